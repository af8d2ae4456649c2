package verify

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/snapshots"
)

// bigDump is a complete dump whose gzip is a few kilobytes, so cutting it
// leaves a stream truncated inside the deflate data.
func bigDump(rows int) string {
	var b strings.Builder
	for i := range rows {
		fmt.Fprintf(&b, "%d\tname %d %x\n", i, i*7919, i*104729)
	}
	return strings.Replace(dumpSQL, "1\tone\n2\ttwo\n3\tthree\n", b.String(), 1)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	d := newDeps(t)
	ctx := context.Background()
	full := gz(bigDump(2000))
	noTrailer := strings.Replace(dumpSQL, "-- PostgreSQL database dump complete", "-- something else", 1)
	forbidden := strings.Replace(dumpSQL, "SET statement_timeout = 0;\n", "SET statement_timeout = 0;\n\\! touch /tmp/pwned\n", 1)
	restricted := strings.Replace(dumpSQL, "SET statement_timeout = 0;\n", "\\restrict abc123\nSET statement_timeout = 0;\n", 1) + "\\unrestrict abc123\n"
	type verifyCase struct {
		name   string
		body   []byte
		status snapshots.Status
		reason string
	}
	tests := []verifyCase{
		{"good", gz(dumpSQL), snapshots.StatusVerified, ""},
		{"restrict", gz(restricted), snapshots.StatusVerified, ""},
		{"tiny", []byte(strings.Repeat("x", 37)), snapshots.StatusCorrupt, "only 37 bytes"},
		{"empty", nil, snapshots.StatusCorrupt, "only 0 bytes"},
		{"truncated", full[:len(full)/2], snapshots.StatusCorrupt, fmt.Sprintf("truncated gzip at byte %d", len(full)/2)},
		{"trailerless", gz(noTrailer), snapshots.StatusCorrupt, "no completion trailer"},
		{"forbidden", gz(forbidden), snapshots.StatusCorrupt, `forbidden meta-command at line 9: \!`},
		{"plain", []byte(dumpSQL), snapshots.StatusCorrupt, "not gzip (bad header)"},
		{"checksum", append(append([]byte{}, full[:len(full)-8]...), 0, 0, 0, 0, full[len(full)-4], full[len(full)-3], full[len(full)-2], full[len(full)-1]), snapshots.StatusCorrupt, "gzip checksum mismatch"},
	}
	verifyEach(t, d, "proj-v", tests, func(tt verifyCase) (string, []byte) { return tt.name, tt.body }, func(tt verifyCase, got snapshots.Snapshot) {
		if got.Status != tt.status || got.Reason != tt.reason {
			t.Errorf("%s: status %s, reason %q; want %s, %q", tt.name, got.Status, got.Reason, tt.status, tt.reason)
		}
		if (got.Usable() == nil) != (tt.status == snapshots.StatusVerified) {
			t.Errorf("%s: Usable() = %v", tt.name, got.Usable())
		}
	})

	good, _ := snapshots.SnapshotGetByKey(ctx, d.Pool, "daily/proj-v/good.sql.gz")
	if good.ServerVersion != "15.8" || good.DumpVersion != "15.8" || good.UncompressedBytes != int64(len(dumpSQL)) || good.VerifiedAt == nil {
		t.Errorf("metadata = %+v", good)
	}
	tables, err := snapshots.SnapshotTables(ctx, d.Pool, good.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []snapshots.Table{{Schema: "public", Name: "items", Rows: 3, Bytes: 20, HasData: true}, {Schema: "public", Name: "empty"}}
	if fmt.Sprint(tables) != fmt.Sprint(want) {
		t.Errorf("inventory = %+v, want %+v", tables, want)
	}
	sum, _ := snapshots.ProjectSummaryGet(ctx, d.Pool, "proj-v", good.FirstSeen)
	if sum.VerifiedCount != 2 || sum.CorruptCount != len(tests)-2 || sum.PendingCount != 0 {
		t.Errorf("summary = %+v", sum)
	}

	// A snapshot whose object vanished before verification is marked deleted.
	deleteObject(t, d, good.Key)
	got, err := Snapshot(ctx, d, good.ID)
	if err != nil || got.DeletedAt == nil {
		t.Errorf("verify of a deleted object = %+v, %v", got, err)
	}
}
