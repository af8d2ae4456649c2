package cluster_test

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/restoreportal/portal/internal/cluster"
)

var refPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

func TestNameExamples(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 63)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"staging short", cluster.StagingName("shop", 5), "shop_stg_t5"},
		{"kept short", cluster.KeptName("shop", 5), "shop_pre_t5"},
		{"aside short", cluster.RollbackAsideName("shop", 5), "shop_rb_t5"},
		{"backup schema", cluster.BackupSchemaName(5), "restore_backup_t5"},
		{"new project", cluster.NewProjectDatabase("my-shop"), "my_shop"},
		{"target ref", cluster.DefaultTargetRef("my-shop", 12), "my-shop-r12"},
		{"owner role", cluster.OwnerRoleName("my_shop"), "my_shop_owner"},
		{"staging of a 63-byte live is cut and hashed", cluster.StagingName(long, 5), strings.Repeat("a", 47) + "_" + hash8(long) + "_stg_t5"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func hash8(s string) string {
	// the expected hash of the example above, computed independently
	return map[string]string{strings.Repeat("a", 63): "7d3e74a0"}[s]
}

// perTicket are the purposes whose names include the ticket.
var perTicket = []cluster.Purpose{cluster.PurposeStaging, cluster.PurposeKept, cluster.PurposeRollbackAside, cluster.PurposeTableBackupDB, cluster.PurposeTableAside}

// checkNames asserts the naming rules for one base and a few tickets.
func checkNames(t *testing.T, base string, tickets []int64) {
	t.Helper()
	seen := map[string]string{}
	add := func(what, name string) {
		t.Helper()
		if len(name) > cluster.MaxIdentifierBytes {
			t.Fatalf("%s of %q is %d bytes: %q", what, base, len(name), name)
		}
		if !utf8.ValidString(name) && utf8.ValidString(base) {
			t.Fatalf("%s of %q is not valid UTF-8: %q", what, base, name)
		}
		if name == base {
			t.Fatalf("%s of %q equals the live name", what, base)
		}
		if other, dup := seen[name]; dup {
			t.Fatalf("%s and %s of %q are both %q", what, other, base, name)
		}
		seen[name] = what
	}
	for _, id := range tickets {
		for _, p := range perTicket {
			add(string(p)+"/"+itoa(id), cluster.Name(p, base, id))
		}
		add("backup/"+itoa(id), cluster.BackupSchemaName(id))
	}
	add("owner", cluster.OwnerRoleName(base))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestNamesFitAndDiffer(t *testing.T) {
	t.Parallel()
	ids := []int64{1, 2, 9, 10, 11, 99, 12345, math.MaxInt64, math.MaxInt64 - 1}
	for _, base := range []string{
		"ab", "shop", "proj_0123456789", strings.Repeat("x", 40), strings.Repeat("y", 57), strings.Repeat("z", 62),
		strings.Repeat("q", 63), strings.Repeat("é", 31) + "a", "a_stg_t1", strings.Repeat("k", 50) + "_pre_t7",
	} {
		checkNames(t, base, ids)
	}
}

// TestNamesOfLongBasesStayApart: two 63-byte live names that share their
// first 60 bytes get different derived names.
func TestNamesOfLongBasesStayApart(t *testing.T) {
	t.Parallel()
	a, b := strings.Repeat("p", 60)+"abc", strings.Repeat("p", 60)+"abd"
	for _, p := range perTicket {
		if cluster.Name(p, a, 3) == cluster.Name(p, b, 3) {
			t.Fatalf("%s names of %q and %q collide", p, a, b)
		}
	}
}

func TestTargetRefsAreValidRefs(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{"ab", "my-shop", strings.Repeat("a", 40), strings.Repeat("b", 63), strings.Repeat("c-", 31) + "c"} {
		seen := map[string]bool{}
		for _, id := range []int64{1, 7, 10, 70, math.MaxInt64} {
			tr := cluster.DefaultTargetRef(ref, id)
			if !refPattern.MatchString(tr) {
				t.Fatalf("default target ref %q of %q (ticket %d) is not a valid ref", tr, ref, id)
			}
			if tr == ref || seen[tr] {
				t.Fatalf("default target ref %q of %q repeats", tr, ref)
			}
			seen[tr] = true
			if db := cluster.NewProjectDatabase(tr); len(db) > cluster.MaxIdentifierBytes || db == cluster.NewProjectDatabase(ref) {
				t.Fatalf("database %q of target %q: too long or the live one", db, tr)
			}
		}
	}
}

func FuzzNames(f *testing.F) {
	f.Add("shop", int64(5), int64(6))
	f.Add(strings.Repeat("a", 63), int64(math.MaxInt64), int64(1))
	f.Add(strings.Repeat("é", 31), int64(10), int64(1))
	f.Add("a_stg_t1", int64(1), int64(11))
	f.Fuzz(func(t *testing.T, base string, x, y int64) {
		if len(base) == 0 || len(base) > cluster.MaxIdentifierBytes || x == y {
			return // not a database name
		}
		checkNames(t, base, []int64{x, y})
		ref := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
				return r
			}
			return 'x'
		}, base)
		if !refPattern.MatchString(ref) {
			return
		}
		tx, ty := cluster.DefaultTargetRef(ref, x), cluster.DefaultTargetRef(ref, y)
		if !refPattern.MatchString(tx) || tx == ty || tx == ref {
			t.Fatalf("target refs %q/%q of %q", tx, ty, ref)
		}
		if db := cluster.NewProjectDatabase(tx); len(db) > cluster.MaxIdentifierBytes {
			t.Fatalf("new project database %q too long", db)
		}
	})
}
