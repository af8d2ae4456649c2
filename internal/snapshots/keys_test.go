package snapshots

import (
	"testing"
	"time"
)

func TestParseKeyTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 5, 3, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		key  string
		want time.Time
		ok   bool
	}{
		{"daily/p/20260503T020000Z.sql.gz", want, true},
		{"daily/p/2026-05-03T02:00:00Z.sql.gz", want, true},
		{"daily/p/2026-05-03T02-00-00Z.sql.gz", want, true},
		{"daily/p/20260503020000.sql.gz", want, true},
		{"daily/p/1777773600.sql.gz", want, true},
		{"daily/p/1777773600", want, true},
		{"daily/p/backup-20260503T020000Z.sql.gz", want, true},
		{"daily/p/2026-05-03T04:00:00+02:00.sql.gz", want, true},
		{"daily/p/2026-05-03T02:00:00.123Z.sql.gz", want, true},
		{"daily/p/20260503T020000Z.dump", want, true},
		{"daily/p/latest.sql.gz", time.Time{}, false},
		{"daily/p/20260230T020000Z.sql.gz", time.Time{}, false}, // no 30 February
		{"daily/p/20261303T020000Z.sql.gz", time.Time{}, false}, // no month 13
		{"daily/p/123.sql.gz", time.Time{}, false},
		{"daily/p/1777773600000.sql.gz", time.Time{}, false}, // milliseconds are not seconds
		{"daily/p/9920260503020000.sql.gz", time.Time{}, false},
		{"daily/p/.sql.gz", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseKeyTime(tt.key)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseKeyTime(%q) = %v, %v; want %v, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRefFromKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix, key, ref, name string
		ok                     bool
	}{
		{"daily", "daily/proj-a/x.sql.gz", "proj-a", "x.sql.gz", true},
		{"daily", "daily/proj-a/sub/x.sql.gz", "proj-a", "sub/x.sql.gz", true},
		{"daily", "daily/x.sql.gz", "", "", false},
		{"daily", "other/proj-a/x.sql.gz", "", "", false},
		{"daily", "daily/proj-a/", "", "", false},
		{"", "proj-a/x.sql.gz", "proj-a", "x.sql.gz", true},
	}
	for _, tt := range tests {
		ref, name, ok := RefFromKey(tt.prefix, tt.key)
		if ref != tt.ref || name != tt.name || ok != tt.ok {
			t.Errorf("RefFromKey(%q, %q) = %q, %q, %v", tt.prefix, tt.key, ref, name, ok)
		}
	}
}

func FuzzParseKeyTime(f *testing.F) {
	for _, s := range []string{"20260503T020000Z.sql.gz", "2026-05-03T02:00:00Z", "1777773600", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if tm, ok := ParseKeyTime(key); ok && tm.Location() != time.UTC {
			t.Fatalf("time not in UTC: %v", tm)
		}
	})
}
