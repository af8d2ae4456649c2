package mail

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// zoneOffsets maps the abbreviations people write in mail to fixed offsets
// (in hours). Where an abbreviation is used by more than one zone, the one
// support mail most likely means wins: CST is US Central, IST is India, BST
// is British Summer Time.
var zoneOffsets = map[string]float64{
	"utc": 0, "gmt": 0, "z": 0, "ut": 0,
	"pst": -8, "pdt": -7, "mst": -7, "mdt": -6, "cst": -6, "cdt": -5, "est": -5, "edt": -4,
	"akst": -9, "akdt": -8, "hst": -10, "ast": -4, "adt": -3, "nst": -3.5, "ndt": -2.5,
	"bst": 1, "ist": 5.5, "cet": 1, "cest": 2, "met": 1, "mest": 2, "eet": 2, "eest": 3,
	"msk": 3, "gst": 4, "pkt": 5, "ict": 7, "wib": 7, "sgt": 8, "hkt": 8, "awst": 8,
	"jst": 9, "kst": 9, "acst": 9.5, "acdt": 10.5, "aest": 10, "aedt": 11, "nzst": 12, "nzdt": 13,
	"brt": -3, "art": -3, "clt": -4, "sast": 2, "wat": 1, "cat": 2,
}

// zoneNames maps generic names, which follow daylight saving time, to IANA
// zones; when the zone database is not available their standard offset is
// used.
var zoneNames = map[string]struct {
	iana string
	std  float64
}{
	"pt": {"America/Los_Angeles", -8},
	"mt": {"America/Denver", -7},
	"ct": {"America/Chicago", -6},
	"et": {"America/New_York", -5},
}

var reUTCOffset = regexp.MustCompile(`(?i)^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$`)

// zoneIANA maps the abbreviations of zones that follow daylight saving time
// to their IANA zone, so that "2:15pm PST" is kept as Pacific time (and an
// answer in July says PDT) rather than a fixed offset that loses the zone.
// The time is read in the IANA zone: people write "PST" all year round and
// mean the local time. Where an abbreviation is shared, the zone support
// mail most likely means wins, as in zoneOffsets.
var zoneIANA = map[string]string{
	"pst": "America/Los_Angeles", "pdt": "America/Los_Angeles",
	"mst": "America/Denver", "mdt": "America/Denver",
	"cst": "America/Chicago", "cdt": "America/Chicago",
	"est": "America/New_York", "edt": "America/New_York",
	"akst": "America/Anchorage", "akdt": "America/Anchorage",
	"hst": "Pacific/Honolulu",
	"nst": "America/St_Johns", "ndt": "America/St_Johns",
	"bst": "Europe/London",
	"ist": "Asia/Kolkata",
	"cet": "Europe/Paris", "cest": "Europe/Paris", "met": "Europe/Paris", "mest": "Europe/Paris",
	"eet": "Europe/Athens", "eest": "Europe/Athens",
	"msk": "Europe/Moscow",
	"jst": "Asia/Tokyo", "kst": "Asia/Seoul", "sgt": "Asia/Singapore", "hkt": "Asia/Hong_Kong",
	"aest": "Australia/Sydney", "aedt": "Australia/Sydney",
	"acst": "Australia/Adelaide", "acdt": "Australia/Adelaide", "awst": "Australia/Perth",
	"nzst": "Pacific/Auckland", "nzdt": "Pacific/Auckland",
	"sast": "Africa/Johannesburg", "brt": "America/Sao_Paulo",
}

// ZoneIANA returns the IANA zone of an abbreviation people write ("PST"),
// ok false when it has none.
func ZoneIANA(abbr string) (string, bool) {
	z, ok := zoneIANA[strings.ToLower(strings.TrimSpace(abbr))]
	return z, ok
}

// keepZone moves a time read with an abbreviation ("PST", a fixed offset:
// the instant is what the requester wrote) into the abbreviation's IANA
// zone, so the requester's zone is kept for every answer. note says when
// the abbreviation is not the one the zone uses that day ("PST" in July):
// the instant then follows the letters written, and staff should check.
func keepZone(t time.Time) (_ time.Time, note string) {
	abbr := t.Location().String()
	z, ok := zoneIANA[strings.ToLower(abbr)]
	if !ok || abbr != strings.ToUpper(abbr) {
		return t, ""
	}
	loc, err := time.LoadLocation(z)
	if err != nil {
		return t, ""
	}
	in := t.In(loc)
	if got := in.Format("MST"); got != abbr && !strings.HasPrefix(got, "+") && !strings.HasPrefix(got, "-") {
		note = fmt.Sprintf(" (%s written, but %s is on %s that day: read as %s, i.e. %s)", abbr, z, got,
			t.Format("15:04 MST"), in.Format("15:04 MST"))
	}
	return in, note
}

// lookupZone reads a zone as written after a time ("PST", "UTC+2",
// "+02:00"). ok is false when s is not a zone. An abbreviation gives its
// fixed offset, named by the abbreviation in capitals; keepZone then moves
// the time into the IANA zone.
func lookupZone(s string) (*time.Location, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return nil, false
	}
	if h, ok := zoneOffsets[s]; ok {
		return time.FixedZone(strings.ToUpper(s), int(h*3600)), true
	}
	if z, ok := zoneNames[s]; ok {
		if loc, err := time.LoadLocation(z.iana); err == nil {
			return loc, true
		}
		return time.FixedZone(strings.ToUpper(s), int(z.std*3600)), true
	}
	if m := reUTCOffset.FindStringSubmatch(s); m != nil {
		h, _ := strconv.Atoi(m[2])
		mins := 0
		if m[3] != "" {
			mins, _ = strconv.Atoi(m[3])
		}
		if h > 14 || mins > 59 {
			return nil, false
		}
		off := h*3600 + mins*60
		if m[1] == "-" {
			off = -off
		}
		return time.FixedZone(strings.ToUpper(s), off), true
	}
	return nil, false
}
