package snapshots

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// keyTime matches the time forms platforms write in snapshot names:
// 20260503T020000Z, 2026-05-03T02:00:00Z, 2026-05-03T02-00-00Z and
// 20260503020000 (all UTC), with optional fractional seconds.
var keyTime = regexp.MustCompile(`(\d{4})-?(\d{2})-?(\d{2})[T_ ]?(\d{2})[:\-]?(\d{2})[:\-]?(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?`)

// unixSeconds is a whole name of 9 to 11 digits (2001 to 5138), optionally
// with milliseconds refused: a 13-digit name is not treated as seconds.
var unixSeconds = regexp.MustCompile(`^(\d{9,11})$`)

// dumpSuffixes are stripped from a name before its time is parsed.
var dumpSuffixes = []string{".gz", ".sql", ".dump", ".pgdump"}

// ParseKeyTime returns the snapshot time written in key's last path element,
// or false when there is none. It never fails the caller: a key without a
// time is kept in the catalog with a NULL time.
func ParseKeyTime(key string) (time.Time, bool) {
	name := path.Base(key)
	for changed := true; changed; {
		changed = false
		for _, s := range dumpSuffixes {
			if strings.HasSuffix(name, s) && len(name) > len(s) {
				name, changed = strings.TrimSuffix(name, s), true
			}
		}
	}
	if unixSeconds.MatchString(name) {
		n, err := strconv.ParseInt(name, 10, 64)
		if err == nil {
			return time.Unix(n, 0).UTC(), true
		}
	}
	m := keyTime.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	// Reject digit runs that only look like a time because they are inside a
	// longer number (a 20-digit id, say).
	loc := keyTime.FindStringIndex(name)
	if loc[0] > 0 && isDigit(name[loc[0]-1]) || loc[1] < len(name) && isDigit(name[loc[1]]) {
		return time.Time{}, false
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	zone := time.UTC
	if z := m[7]; z != "" && z != "Z" {
		t, err := time.Parse("-0700", strings.ReplaceAll(z, ":", ""))
		if err != nil {
			return time.Time{}, false
		}
		zone = t.Location()
	}
	t := time.Date(n(1), time.Month(n(2)), n(3), n(4), n(5), n(6), 0, zone)
	// time.Date normalises 2026-02-30 to March: refuse what did not round-trip.
	if t.Year() != n(1) || int(t.Month()) != n(2) || t.Day() != n(3) || t.Hour() != n(4) || t.Minute() != n(5) || t.Second() != n(6) {
		return time.Time{}, false
	}
	if t.Year() < 1990 || t.Year() > 2200 {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// RefFromKey splits "<prefix>/<ref>/<name>" into ref and name. ok is false for
// objects directly under the prefix or outside it.
func RefFromKey(prefix, key string) (ref, name string, ok bool) {
	rest := key
	if prefix != "" {
		p := strings.TrimSuffix(prefix, "/") + "/"
		if !strings.HasPrefix(key, p) {
			return "", "", false
		}
		rest = key[len(p):]
	}
	ref, name, ok = strings.Cut(rest, "/")
	if !ok || ref == "" || name == "" || strings.HasSuffix(name, "/") {
		return "", "", false
	}
	return ref, name, true
}

var validRef = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// ValidRef reports whether ref is a project ref the catalog accepts (the
// projects table's constraint).
func ValidRef(ref string) bool { return validRef.MatchString(ref) }

// ProjectPrefix is the S3 prefix holding ref's snapshots, with its slash.
func ProjectPrefix(prefix, ref string) string {
	if prefix == "" {
		return ref + "/"
	}
	return strings.TrimSuffix(prefix, "/") + "/" + ref + "/"
}

// KeyFor is the key of a snapshot of ref taken at t, in the form the
// platform's daily job writes.
func KeyFor(prefix, ref string, t time.Time) string {
	return ProjectPrefix(prefix, ref) + t.UTC().Format("20060102T150405Z") + ".sql.gz"
}
