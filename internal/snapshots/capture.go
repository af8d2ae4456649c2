package snapshots

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/seekgz"
)

var (
	// ErrNotCapturable is returned for a project without a database the
	// portal knows (discovered only in S3).
	ErrNotCapturable = errors.New("project has no registered database to capture")
	// ErrTooSmall is returned when pg_dump produced less than MinSize bytes;
	// the object is deleted.
	ErrTooSmall = errors.New("capture too small")
	// ErrCaptureCorrupt is returned when the captured snapshot failed its
	// verification; the snapshot is returned too.
	ErrCaptureCorrupt = errors.New("captured snapshot failed verification")
)

// capturePartSize bounds the uploader's memory: parts of this size, two in
// flight, never a temporary file.
const capturePartSize = 8 << 20

// uploadMemory is what the uploader buffers: its two parts in flight and the
// one being filled.
const uploadMemory = 3 * capturePartSize

// DefaultCaptureMemory bounds a capture's buffers when Deps.CaptureMemory is 0
// (the PORTAL_CAPTURE_MEMORY_MIB default).
const DefaultCaptureMemory = 150 << 20

// CaptureWith runs pg_dump --no-owner --no-privileges on ref's database (only
// tables when given: pg_dump -t, each name quoted, so it matches that one table
// and is no pattern), gzips the output and streams it to S3 as a multipart
// upload of unknown length (nothing touches local disk), records the snapshot
// and verifies it with inspect (VerifyWith). manual snapshots ("snapshot now",
// the safety snapshot before a destructive restore) are never pruned. A tables
// capture is manual and its key ends in .tables.sql.gz, so a person reading the
// bucket or the catalog sees it holds only some tables. The returned snapshot
// is verified unless the error says otherwise. internal/verify.Capture and
// CaptureTables call it with the dump reader's inspection.
func CaptureWith(ctx context.Context, d Deps, ref string, manual bool, tables []pgx.Identifier, inspect Inspector) (Snapshot, error) {
	return capture(ctx, d, ref, manual || len(tables) > 0, tables, inspect)
}

func capture(ctx context.Context, d Deps, ref string, manual bool, tables []pgx.Identifier, inspect Inspector) (Snapshot, error) {
	p, err := ProjectGet(ctx, d.Pool, ref)
	if err != nil {
		return Snapshot{}, err
	}
	if p.DatabaseName == "" || p.Source == "discovered" {
		return Snapshot{}, fmt.Errorf("capture %s: %w", ref, ErrNotCapturable)
	}
	adminURL := d.ProjectsAdminURL
	if u, ok := d.ClusterURLs[p.Cluster]; ok {
		adminURL = u
	} else if p.Cluster != "" && p.Cluster != "default" {
		return Snapshot{}, fmt.Errorf("capture %s: project cluster %q is not configured", ref, p.Cluster)
	}
	connURL, password, err := databaseURL(adminURL, p.DatabaseName)
	if err != nil {
		return Snapshot{}, err
	}
	// Keys have second precision: two captures of a project in the same
	// second (a scheduled one and a safety snapshot, say) take the next free
	// second instead of failing.
	at := time.Now().UTC().Truncate(time.Second)
	keyFor := KeyFor
	var args []string
	if len(tables) > 0 {
		keyFor = func(prefix, ref string, at time.Time) string {
			return strings.TrimSuffix(KeyFor(prefix, ref, at), ".sql.gz") + ".tables.sql.gz"
		}
		for _, t := range tables {
			args = append(args, "--table", t.Sanitize())
		}
	}
	key := keyFor(d.Prefix, ref, at)
	for tries := 0; ; tries++ {
		if _, err := SnapshotGetByKey(ctx, d.Pool, key); err != nil {
			break
		}
		if tries == 5 {
			return Snapshot{}, fmt.Errorf("capture %s: a snapshot with key %s exists already; try again in a few seconds", ref, key)
		}
		select {
		case <-ctx.Done():
			return Snapshot{}, ctx.Err()
		case <-time.After(time.Until(at.Add(time.Second))):
		}
		at = time.Now().UTC().Truncate(time.Second)
		key = keyFor(d.Prefix, ref, at)
	}
	start := time.Now()
	size, etag, err := dumpToS3(ctx, d, connURL, password, key, args...)
	if err != nil {
		return Snapshot{}, fmt.Errorf("capture %s: %w", ref, err)
	}
	if size < MinSize {
		_, derr := d.S3.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: &d.Bucket, Key: &key})
		return Snapshot{}, errors.Join(fmt.Errorf("capture %s: pg_dump produced only %d bytes: %w", ref, size, ErrTooSmall), derr)
	}
	kind := KindAutomatic
	if manual {
		kind = KindManual
	}
	var id int64
	err = pgx.BeginFunc(ctx, d.Pool, func(tx pgx.Tx) error {
		mod := time.Now()
		if _, err := snapshotUpsert(ctx, tx, []listed{{ref: ref, key: key, size: size, etag: etag, takenAt: &at, lastModified: &mod}}, kind); err != nil {
			return err
		}
		// A sync may have inserted the row first, as automatic.
		var err error
		if id, err = snapshotSetKind(ctx, tx, key, kind); err != nil {
			return err
		}
		if d.Recorded != nil {
			if err := d.Recorded(ctx, tx, id); err != nil {
				return err
			}
		}
		return SummaryRefresh(ctx, tx, []string{ref})
	})
	if err != nil {
		return Snapshot{}, fmt.Errorf("capture %s: record %s: %w", ref, key, err)
	}
	d.log().Info("snapshot captured", "project_ref", ref, "key", key, "bytes", size, "manual", manual,
		"duration_ms", time.Since(start).Milliseconds())
	s, err := VerifyWith(ctx, d, id, inspect)
	if err != nil {
		return s, fmt.Errorf("capture %s: %w", ref, err)
	}
	if s.Status != StatusVerified {
		return s, fmt.Errorf("capture %s: %w: %s", ref, ErrCaptureCorrupt, s.Reason)
	}
	return s, nil
}

// dumpToS3 pipes pg_dump through gzip into a multipart upload and returns the
// compressed size and the object's ETag.
func dumpToS3(ctx context.Context, d Deps, connURL, password, key string, extra ...string) (int64, string, error) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, cmpOr(d.PGDump, "pg_dump"), append([]string{"--no-owner", "--no-privileges", "--dbname", connURL}, extra...)...)
	// The password goes through the environment, never the command line.
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGAPPNAME=portal-capture")
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 8 << 10}
	// pg_dump in its own process group, killed whole on cancel: a child it
	// left behind would hold the output pipes open, and Wait would wait for
	// it; WaitDelay bounds that wait should anything else hold them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, "", err
	}
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("start pg_dump: %w", err)
	}
	pr, pw := io.Pipe()
	// A cancel ends the upload's read and the compressor's write at once,
	// rather than after pg_dump's buffered output has been compressed and
	// offered to an uploader that no longer reads it.
	stop := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := compressWithin(pw, stdout, d.CaptureMemory)
		if werr := cmd.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("pg_dump: %w: %s", werr, strings.TrimSpace(stderr.String()))
		}
		pw.CloseWithError(err) // nil: the uploader sees EOF
	}()
	body := &countReader{r: pr}
	up := manager.NewUploader(d.S3, func(u *manager.Uploader) {
		u.PartSize = capturePartSize
		u.Concurrency = 2
		// S3-compatible servers reject the newer checksum headers: compute
		// checksums only when an operation requires them.
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		// The uploader would abort a failed multipart upload with ctx, which
		// a cancel or shutdown has ended: the abort fails and the parts stay
		// (billed, invisible). abortUpload aborts with a context of its own.
		u.LeavePartsOnError = true
	})
	out, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: &d.Bucket, Key: &key, Body: body,
		ContentType: aws.String("application/gzip")})
	if err != nil {
		cancel() // stop pg_dump
		pr.CloseWithError(err)
		<-done
		if aerr := abortUpload(context.WithoutCancel(ctx), d, key, err); aerr != nil {
			err = errors.Join(err, aerr)
		}
		if perr := parent.Err(); perr != nil {
			err = fmt.Errorf("%w: %w", perr, err) // cancelled: say so first
		}
		return 0, "", fmt.Errorf("upload s3://%s/%s: %w", d.Bucket, key, err)
	}
	<-done
	return body.n, strings.Trim(aws.ToString(out.ETag), `"`), nil
}

// compress gzips src into w as a seekable .sql.gz (internal/seekgz): a new
// gzip member at each large table's data and at most every 32 MiB, compressed
// on every core; still plain gzip for gunzip | psql. It stays within
// DefaultCaptureMemory.
func compress(w io.Writer, src io.Reader) error { return compressWithin(w, src, 0) }

// compressWithin is compress within memory bytes (0: DefaultCaptureMemory), the
// uploader's buffers included: the writer gets the rest and makes its members
// smaller, then compresses fewer at once, to stay under it.
func compressWithin(w io.Writer, src io.Reader, memory int64) error {
	if memory <= 0 {
		memory = DefaultCaptureMemory
	}
	zw := seekgz.NewWriterOptions(w, seekgz.WriterOptions{Memory: max(memory-uploadMemory, 8<<20)})
	_, err := io.Copy(zw, src)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return err
}

// databaseURL points the admin URL at dbname and takes its password out, for
// PGPASSWORD.
func databaseURL(adminURL, dbname string) (string, string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", "", fmt.Errorf("PORTAL_PROJECTS_ADMIN_URL: not a URL")
	}
	password, _ := u.User.Password()
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.Path = "/" + dbname
	return u.String(), password, nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
