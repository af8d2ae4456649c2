// Command benchcapture is scripts/bench-capture.sh's helper: "setup" migrates
// the portal database named by PORTAL_DATABASE_URL, registers a project
// database already filled on the project cluster and makes the bucket;
// "capture" runs the portal's capture of it (verify.Capture: pg_dump, the
// seekable parallel gzip writer, a multipart upload to S3, then the
// verification pass that builds the access index) and prints how long the
// capture (up to the completed upload) and the verification took, then deletes
// the object and its index so that rounds do not fill the disk.
//
//	benchcapture setup REF DATABASE
//	benchcapture capture REF
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/verify"
	"github.com/restoreportal/portal/scripts/benchenv"
)

func main() {
	benchenv.Commands("benchcapture",
		benchenv.Command{Name: "setup", Args: []string{"REF", "DATABASE"}, RunEnv: setup},
		benchenv.Command{Name: "capture", Args: []string{"REF"}, RunEnv: capture})
}

// setup migrates the portal database, makes the bucket and registers the
// project.
func setup(ctx context.Context, e *benchenv.Env, args []string) error {
	if err := e.Prepare(ctx); err != nil {
		return err
	}
	_, err := snapshots.ProjectRegister(ctx, e.Pool, snapshots.ProjectPlacement{Ref: args[0], Cluster: "default", Database: args[1]})
	return err
}

// capture captures the project, prints the times and deletes what it wrote.
func capture(ctx context.Context, e *benchenv.Env, args []string) error {
	rec := &captured{Handler: e.Log.Handler(), took: &took{}}
	d := snapshots.NewDeps(e.Config, e.Pool, e.S3, slog.New(rec))
	start := time.Now()
	snap, err := verify.Capture(ctx, d, args[0], true)
	if err != nil {
		return err
	}
	total := time.Since(start)
	rec.took.mu.Lock()
	captureS := rec.took.capture.Seconds()
	rec.took.mu.Unlock()
	if captureS == 0 {
		return errors.New(`no "snapshot captured" log line`)
	}
	fmt.Printf("capture_s %.2f\nverify_s %.2f\ntotal_s %.2f\ngzip_bytes %d\n", captureS, total.Seconds()-captureS, total.Seconds(), snap.Size)
	ib, ik := d.IndexLocation(snap.Key, snap.ETag)
	_, err1 := e.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &e.Config.S3.Bucket, Key: &snap.Key})
	_, err2 := e.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &ib, Key: &ik})
	return errors.Join(err1, err2)
}

// captured passes records on to Handler (warnings and errors only) and keeps
// the duration of the "snapshot captured" record: pg_dump to the completed
// upload, before verification.
type captured struct {
	slog.Handler
	took *took
}

type took struct {
	mu      sync.Mutex
	capture time.Duration
}

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }

func (c *captured) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "snapshot captured" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "duration_ms" {
				c.took.mu.Lock()
				c.took.capture = time.Duration(a.Value.Int64()) * time.Millisecond
				c.took.mu.Unlock()
			}
			return true
		})
	}
	if !c.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return c.Handler.Handle(ctx, r)
}

func (c *captured) WithGroup(name string) slog.Handler {
	return &captured{Handler: c.Handler.WithGroup(name), took: c.took}
}

func (c *captured) WithAttrs(as []slog.Attr) slog.Handler {
	return &captured{Handler: c.Handler.WithAttrs(as), took: c.took}
}
