package verify

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
)

// TestCaptureIsSeekable: a capture is written as a gzip member per large table,
// which the system's gunzip reads whole as before, and its access index starts
// those tables at member starts (checkpoints without a window).
func TestCaptureIsSeekable(t *testing.T) {
	t.Parallel()
	d, _ := projectDeps(t, "proj-seekcap")
	ctx := context.Background()
	p := fakePGDump(t, "pg_dump", `printf -- '--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.8\n-- Dumped by pg_dump version 15.8\n\n'
for t in a b c; do printf -- "--\n-- Name: $t; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.$t (v integer);\n\n"; done
for t in a b c; do
printf -- "--\n-- Data for Name: $t; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.$t (v) FROM stdin;\n"
seq 1 700000
printf '\\.\n\n\n'
done
printf -- '--\n-- PostgreSQL database dump complete\n--\n\n'`)
	want, err := exec.Command(p).Output()
	if err != nil {
		t.Fatal(err)
	}
	d.PGDump = p
	s, err := Capture(ctx, d, "proj-seekcap", false)
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	out, err := d.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &d.Bucket, Key: &s.Key})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("gunzip", "-c")
	cmd.Stdin = bytes.NewReader(data)
	plain, err := cmd.Output()
	if err != nil || !bytes.Equal(plain, want) {
		t.Fatalf("gunzip -c: %d bytes (%v), want pg_dump's %d", len(plain), err, len(want))
	}
	r, err := seekgz.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil || r.Members() < 3 {
		t.Fatalf("%d gzip members (%v), want one per table at least", r.Members(), err)
	}
	idx, err := snapshots.LoadIndex(ctx, d, s)
	if err != nil {
		t.Fatal(err)
	}
	empty := 0
	for _, c := range idx.Checkpoints {
		if len(c.Window) == 0 {
			empty++
		}
	}
	if empty < 2 || len(idx.Spans) != 2 { // the last table, before the trailer, is never skipped
		t.Fatalf("%d checkpoints, %d without a window; %d spans", len(idx.Checkpoints), empty, len(idx.Spans))
	}
}
