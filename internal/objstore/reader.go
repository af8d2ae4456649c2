package objstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/config"
)

// ErrObjectChanged is wrapped by the error of a Reader pinned to an object version
// (ReaderOptions.ETag) when S3 holds another version, or none, under the key.
var ErrObjectChanged = errors.New("the snapshot object changed after it was verified")

// ChangedError says which version a Reader expected and what it found.
type ChangedError struct {
	Bucket, Key string
	Want        string // the ETag the reader is pinned to
	Got         string // the ETag S3 has now; empty when unknown or deleted
	Deleted     bool
}

func (e *ChangedError) Error() string {
	now := "now " + cmp.Or(e.Got, "unknown")
	if e.Deleted {
		now = "now deleted"
	}
	return fmt.Sprintf("%s (s3://%s/%s was ETag %s, %s)", ErrObjectChanged, e.Bucket, e.Key, e.Want, now)
}

// Unwrap makes errors.Is(err, ErrObjectChanged) true.
func (e *ChangedError) Unwrap() error { return ErrObjectChanged }

// Defaults of ReaderOptions.
const (
	DefaultRetryFor    = 10 * time.Minute
	DefaultIdleTimeout = time.Minute
	firstBackoff       = 250 * time.Millisecond
	maxBackoff         = 10 * time.Second
)

// ReaderOptions configure NewReaderWith. Zero values mean defaults.
type ReaderOptions struct {
	// ETag pins the object version: every GET, the first and each resume, sends
	// If-Match with it, and a 412, a 404 or a response with another ETag or size is
	// an error wrapping ErrObjectChanged (a *ChangedError). Empty: the reader pins
	// itself to the version its first GET returns.
	ETag string
	// Size is the version's length in bytes, checked against every response when
	// above zero.
	Size int64
	// RetryFor bounds one outage: transient failures (refused, reset or dropped
	// connections, timeouts, 408, 429, 5xx) are retried with exponential backoff from
	// 250ms doubling to 10s until this much time has passed since the outage began
	// (default 10m, PORTAL_S3_RETRY_FOR). Any byte received ends the outage. Other
	// 4xx answers (403, 404, 412) are permanent and never retried.
	RetryFor time.Duration
	// IdleTimeout cuts a request that receives no byte for this long, waiting for
	// the response or inside the body, and resumes by range (default 60s,
	// PORTAL_S3_IDLE_TIMEOUT). Time the caller spends between reads does not count.
	IdleTimeout time.Duration
	// OnChanged, if set, is called once, before the error is returned, when the
	// reader finds the object changed.
	OnChanged func(*ChangedError)
}

// ReaderOptionsFrom takes RetryFor and IdleTimeout from the configuration.
func ReaderOptionsFrom(cfg config.S3) ReaderOptions {
	return ReaderOptions{RetryFor: cfg.RetryFor, IdleTimeout: cfg.IdleTimeout}
}

// errIdle is the cause of a request cut by the idle timeout.
var errIdle = errors.New("no data received within the idle timeout")

// Reader streams one object version. When the connection breaks, stalls or S3 is
// unreachable, it retries with backoff and resumes with a ranged GET from the last
// byte delivered, pinned to the object's ETag with If-Match, so a replaced object is
// never spliced into the old one.
type Reader struct {
	ctx    context.Context
	client *s3.Client
	bucket string
	key    string
	opts   ReaderOptions
	etag   string // as the server writes it (quoted)
	size   int64
	end    int64        // a ranged reader stops before this offset; -1: at size
	offset atomic.Int64 // read by progress reporters on other goroutines
	body   io.ReadCloser
	cancel context.CancelCauseFunc // of the request whose body is open
	timer  *time.Timer             // idle timer of that request

	outage   time.Time // when the current run of failures began; zero when none
	attempts int       // failed attempts in the current outage
	changed  bool      // OnChanged was called

	// MaxRetries, when above zero, also bounds the failed attempts of one outage.
	MaxRetries int
	// Resumed counts ranged GETs issued after a broken or stalled connection.
	Resumed int
}

// NewReader opens bucket/key at offset 0 with default options; resumes are pinned
// to the version the first GET returns.
func NewReader(ctx context.Context, c *s3.Client, bucket, key string) (*Reader, error) {
	return NewReaderWith(ctx, c, bucket, key, ReaderOptions{})
}

// NewReaderWith opens bucket/key at offset 0 as opts says. A pinned reader (opts.ETag
// set) whose object changed fails here already, with an error wrapping
// ErrObjectChanged.
func NewReaderWith(ctx context.Context, c *s3.Client, bucket, key string, opts ReaderOptions) (*Reader, error) {
	return newReader(ctx, c, bucket, key, opts, 0, -1)
}

// NewRangeReader opens bytes [start, end) of bucket/key, one ranged GET that
// resumes like a whole read (a range of its own from the last byte delivered),
// pinned to opts.ETag when set. Offset counts from the object's first byte.
func NewRangeReader(ctx context.Context, c *s3.Client, bucket, key string, start, end int64, opts ReaderOptions) (*Reader, error) {
	if start < 0 || end < start {
		return nil, fmt.Errorf("s3://%s/%s: bad range %d-%d", bucket, key, start, end)
	}
	return newReader(ctx, c, bucket, key, opts, start, end)
}

func newReader(ctx context.Context, c *s3.Client, bucket, key string, opts ReaderOptions, start, end int64) (*Reader, error) {
	opts.RetryFor = cmp.Or(opts.RetryFor, DefaultRetryFor)
	opts.IdleTimeout = cmp.Or(opts.IdleTimeout, DefaultIdleTimeout)
	r := &Reader{ctx: ctx, client: c, bucket: bucket, key: key, opts: opts, size: -1, end: end}
	r.offset.Store(start)
	if end == start && end >= 0 {
		r.size = end // nothing to read: no request
		if opts.ETag != "" {
			r.etag = quoteETag(opts.ETag)
		}
		return r, nil
	}
	if opts.ETag != "" {
		r.etag = quoteETag(opts.ETag)
		if opts.Size > 0 {
			r.size = opts.Size
		}
	}
	if err := r.open(false); err != nil {
		return nil, err
	}
	return r, nil
}

func quoteETag(s string) string {
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "W/") {
		return s
	}
	return `"` + s + `"`
}

// Size is the object's length in bytes.
func (r *Reader) Size() int64 { return max(r.size, 0) }

// Offset is how many bytes have been delivered so far. It is safe to call
// while another goroutine reads.
func (r *Reader) Offset() int64 { return r.offset.Load() }

// ETag is the entity tag of the version being read, without quotes.
func (r *Reader) ETag() string { return strings.Trim(r.etag, `"`) }

// stop is the offset after the last byte this reader delivers.
func (r *Reader) stop() int64 {
	switch {
	case r.end < 0:
		return r.size
	case r.size < 0:
		return r.end
	}
	return min(r.end, r.size)
}

func (r *Reader) Read(p []byte) (int, error) {
	for {
		if r.body == nil {
			if r.offset.Load() >= r.stop() {
				return 0, io.EOF
			}
			if err := r.open(true); err != nil {
				return 0, err
			}
		}
		r.timer.Reset(r.opts.IdleTimeout)
		n, err := r.body.Read(p)
		r.timer.Stop()
		off := r.offset.Add(int64(n))
		if n > 0 {
			r.outage, r.attempts = time.Time{}, 0
		}
		if off > r.stop() {
			r.drop()
			return n, r.changedError("", false)
		}
		if off == r.stop() && r.end >= 0 && err == nil {
			r.drop() // a range's body may have its EOF still unread
			return n, io.EOF
		}
		if err == nil || (err == io.EOF && off == r.stop()) {
			return n, err
		}
		// The stream broke, stalled or ended short: drop it and resume from offset.
		r.drop()
		if r.ctx.Err() != nil {
			return n, r.ctx.Err()
		}
		if n > 0 {
			return n, nil
		}
		if err := r.pause(fmt.Errorf("read s3://%s/%s at byte %d: %w", r.bucket, r.key, off, err)); err != nil {
			return 0, err
		}
	}
}

// open issues GETs until one succeeds, a permanent error or the end of the retry
// window.
func (r *Reader) open(resume bool) error {
	for {
		err := r.get()
		if err == nil {
			if resume {
				r.Resumed++
			}
			return nil
		}
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		if !transient(err) {
			return err
		}
		if err := r.pause(err); err != nil {
			return err
		}
	}
}

// pause records a failed attempt and waits for the next one, or returns the error
// that ends the read when the outage has lasted RetryFor.
func (r *Reader) pause(cause error) error {
	now := time.Now()
	if r.outage.IsZero() {
		r.outage = now
	}
	r.attempts++
	elapsed := now.Sub(r.outage)
	if elapsed >= r.opts.RetryFor || (r.MaxRetries > 0 && r.attempts > r.MaxRetries) {
		return fmt.Errorf("s3://%s/%s: gave up at byte %d after %d failed attempts over %s: %w",
			r.bucket, r.key, r.offset.Load(), r.attempts, elapsed.Round(time.Millisecond), cause)
	}
	wait := min(firstBackoff<<min(r.attempts-1, 10), maxBackoff, r.opts.RetryFor-elapsed)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// get issues one GET from the current offset.
func (r *Reader) get() error {
	ctx, cancel := context.WithCancelCause(r.ctx)
	timer := time.AfterFunc(r.opts.IdleTimeout, func() { cancel(errIdle) })
	in := &s3.GetObjectInput{Bucket: &r.bucket, Key: &r.key}
	off := r.offset.Load()
	switch {
	case r.end >= 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, r.end-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	if r.etag != "" {
		in.IfMatch = aws.String(r.etag)
	}
	// The reader retries by itself, with its own window; the SDK's retryer would
	// add attempts and a retry quota on top.
	out, err := r.client.GetObject(ctx, in, func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
	timer.Stop()
	if err != nil {
		defer cancel(nil)
		if cause := context.Cause(ctx); errors.Is(cause, errIdle) {
			err = fmt.Errorf("%w: %w", errIdle, err)
		}
		switch status(err) {
		case 412, 416:
			if r.etag != "" {
				return r.changedError(r.currentETag(), false)
			}
		case 404:
			if r.etag != "" {
				return r.changedError("", true)
			}
		}
		return fmt.Errorf("get s3://%s/%s at byte %d: %w", r.bucket, r.key, off, err)
	}
	got := aws.ToString(out.ETag)
	total := aws.ToInt64(out.ContentLength) + off
	if r.end >= 0 && aws.ToString(out.ContentRange) == "" {
		out.Body.Close()
		cancel(nil)
		return fmt.Errorf("get s3://%s/%s bytes %d-%d: the answer has no Content-Range", r.bucket, r.key, off, r.end-1)
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				total = n
			}
		}
	}
	switch {
	case r.etag == "":
		r.etag, r.size = got, total
	case strings.Trim(got, `"`) != strings.Trim(r.etag, `"`) || (r.size >= 0 && total != r.size):
		out.Body.Close()
		cancel(nil)
		return r.changedError(got, false)
	case r.size < 0:
		r.size = total
	}
	r.body, r.cancel, r.timer = out.Body, cancel, timer
	return nil
}

// currentETag asks S3 for the key's ETag now, for the message of a changed object.
func (r *Reader) currentETag() string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 10*time.Second)
	defer cancel()
	h, err := r.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &r.bucket, Key: &r.key})
	if err != nil {
		return ""
	}
	return strings.Trim(aws.ToString(h.ETag), `"`)
}

func (r *Reader) changedError(got string, deleted bool) error {
	e := &ChangedError{Bucket: r.bucket, Key: r.key, Want: strings.Trim(r.etag, `"`), Got: strings.Trim(got, `"`), Deleted: deleted}
	if !r.changed && r.opts.OnChanged != nil {
		r.changed = true
		r.opts.OnChanged(e)
	}
	return e
}

// status is the HTTP status of an S3 error response, or 0 when there was none.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// transient reports whether a failed GET is worth another try: no response at all
// (refused, reset, timed out, cut by the idle timeout), 408, 429 or 5xx.
func transient(err error) bool {
	if errors.Is(err, ErrObjectChanged) {
		return false
	}
	switch code := status(err); {
	case code == 0:
		return true
	case code == 408 || code == 429 || code >= 500:
		return true
	}
	return false
}

func (r *Reader) drop() {
	if r.body == nil {
		return
	}
	r.body.Close()
	r.cancel(nil)
	r.body = nil
}

// Close releases the connection.
func (r *Reader) Close() error {
	if r.body == nil {
		return nil
	}
	r.timer.Stop()
	err := r.body.Close()
	r.cancel(nil)
	r.body = nil
	r.offset.Store(max(r.size, 0)) // no resume after Close
	return err
}
