package jobs_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/jobs"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/verify"
)

// putDump uploads a gzipped dump of body at ref's key for time at, as the
// platform's daily job would.
func (h *harness) putDump(ref string, at time.Time, body []byte) string {
	h.t.Helper()
	key := snapshots.KeyFor(h.cfg.S3.Prefix, ref, at)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if _, err := h.deps.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &key, Body: bytes.NewReader(b.Bytes())}); err != nil {
		h.t.Fatal(err)
	}
	return key
}

// syncAndCheck is one sync of ref followed by the health check, as the
// periodic jobs run them; it returns the alarms that fired.
func (h *harness) syncAndCheck(ref string) []drills.Alarm {
	h.t.Helper()
	ctx := context.Background()
	if _, err := snapshots.Sync(ctx, snapshots.NewDeps(h.cfg, h.pool, h.deps.S3, h.deps.Log), snapshots.SyncOptions{Ref: ref, Full: true}); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
	fired, err := jobs.CheckHealth(ctx, h.deps, h.insertOnly(), []string{ref})
	if err != nil {
		h.t.Fatalf("health: %v", err)
	}
	return fired
}

func conditions(as []drills.Alarm) []drills.Condition {
	var out []drills.Condition
	for _, a := range as {
		out = append(out, a.Condition)
	}
	return out
}

// tinyDump is a complete, valid dump of an empty database: the silent failure
// (a dump of the wrong, empty database) that "under 100 bytes" misses.
var tinyDump = []byte("--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nSET client_encoding = 'UTF8';\n" +
	"SET standard_conforming_strings = on;\n\n--\n-- PostgreSQL database dump complete\n--\n\n")

func TestSizeAnomalyAlarmFiresOnceNotEverySync(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	var normal snapshots.Snapshot
	for i := 0; i < 3; i++ {
		normal = h.capture()
	}
	if got := h.syncAndCheck(h.ref); len(got) != 0 {
		t.Fatalf("healthy project fired %v", conditions(got))
	}
	h.putDump(h.ref, time.Now().Add(time.Minute), tinyDump)
	var fired []int
	for i := 0; i < 3; i++ {
		fired = append(fired, len(h.syncAndCheck(h.ref)))
	}
	if fired[0] != 1 || fired[1] != 0 || fired[2] != 0 {
		t.Fatalf("alarms fired per sync: %v, want [1 0 0]", fired)
	}
	open := h.openAlarms()
	if len(open) != 1 || open[0].Condition != drills.CondSizeAnomaly || !strings.Contains(open[0].Detail, "median") ||
		open[0].MailStatus != "pending" || open[0].MailTo != opsAddress {
		t.Fatalf("open alarms: %+v", open)
	}
	if n := h.alarmMailJobs(); n != 1 {
		t.Fatalf("%d alarm mails queued over three syncs, want 1", n)
	}

	// A normal snapshot clears it; the next tiny one the same day fires a
	// new alarm, listed and counted, but not mailed again that day.
	raw := h.objectText(normal)
	h.putDump(h.ref, time.Now().Add(2*time.Minute), raw)
	if got := h.syncAndCheck(h.ref); len(got) != 0 || len(h.openAlarms()) != 0 {
		t.Fatalf("a normal snapshot: fired %v, open %+v", conditions(got), h.openAlarms())
	}
	h.putDump(h.ref, time.Now().Add(3*time.Minute), tinyDump)
	if got := h.syncAndCheck(h.ref); len(got) != 1 || got[0].Condition != drills.CondSizeAnomaly || got[0].MailStatus != "none" {
		t.Fatalf("the anomaly again: %+v", got)
	}
	if n := h.alarmMailJobs(); n != 1 {
		t.Fatalf("a second mail the same day: %d mail jobs", n)
	}
}

func TestMissingSnapshotAlarmFiresOnceAndClears(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	ctx := context.Background()
	ref := randomRef()
	if _, err := h.pool.Exec(ctx, `INSERT INTO projects (ref, created_at) VALUES ($1, now() - interval '10 days')`, ref); err != nil {
		t.Fatal(err)
	}
	if got := h.syncAndCheck(ref); len(got) != 1 || got[0].Condition != drills.CondNoSnapshot || !strings.Contains(got[0].Detail, "no snapshot at all") {
		t.Fatalf("a project with no snapshot: %+v", got)
	}
	h.putDump(ref, time.Now().Add(-48*time.Hour), tinyDump)
	var fired []int
	for i := 0; i < 3; i++ {
		fired = append(fired, len(h.syncAndCheck(ref)))
	}
	if fired[0]+fired[1]+fired[2] != 0 {
		t.Fatalf("the condition held on and fired again: %v", fired)
	}
	open, err := drills.AlarmsOpen(ctx, h.pool, ref, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].Condition != drills.CondNoSnapshot || open[0].LastSeen.Equal(open[0].RaisedAt) {
		t.Fatalf("open alarms: %+v", open)
	}
	if n := h.alarmMailJobs(); n != 1 {
		t.Fatalf("%d alarm mails, want 1", n)
	}
	h.putDump(ref, time.Now(), tinyDump)
	if got := h.syncAndCheck(ref); len(got) != 0 {
		t.Fatalf("a fresh snapshot fired %v", conditions(got))
	}
	if open, _ := drills.AlarmsOpen(ctx, h.pool, ref, 10); len(open) != 0 {
		t.Fatalf("a fresh snapshot did not clear the alarm: %+v", open)
	}
}

func TestCorruptNewestSnapshotAlarms(t *testing.T) {
	t.Parallel()
	h := newDrillHarness(t)
	ctx := context.Background()
	h.capture()
	key := h.putDump(h.ref, time.Now().Add(time.Minute), []byte(strings.Repeat("not a dump at all\n", 20))) // no trailer
	h.syncAndCheck(h.ref)
	s, err := snapshots.SnapshotGetByKey(ctx, h.pool, key)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = verify.Snapshot(ctx, snapshots.NewDeps(h.cfg, h.pool, h.deps.S3, h.deps.Log), s.ID); err != nil || s.Status != snapshots.StatusCorrupt {
		t.Fatalf("verify: %s %v", s.Status, err)
	}
	got := h.syncAndCheck(h.ref)
	if len(got) != 1 || got[0].Condition != drills.CondSnapshotCorrupt || !strings.Contains(got[0].Detail, s.Reason) {
		t.Fatalf("a corrupt newest snapshot: %+v", got)
	}
	if again := h.syncAndCheck(h.ref); len(again) != 0 {
		t.Fatalf("fired again: %v", conditions(again))
	}
}

// objectText is the uncompressed dump of snap.
func (h *harness) objectText(snap snapshots.Snapshot) []byte {
	h.t.Helper()
	obj, err := h.deps.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &h.cfg.S3.Bucket, Key: &snap.Key})
	if err != nil {
		h.t.Fatal(err)
	}
	defer obj.Body.Close()
	zr, err := gzip.NewReader(obj.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(zr); err != nil {
		h.t.Fatal(err)
	}
	return b.Bytes()
}
