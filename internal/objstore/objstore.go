// Package objstore builds the S3 client for S3-compatible servers and reads
// objects as streams that survive dropped connections by resuming with ranged
// GETs from the last byte read.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/restoreportal/portal/internal/config"
)

// New returns a client for cfg. Against S3-compatible servers it uses path
// style when asked and computes checksums only when an operation requires
// them, which servers that do not know the newer checksum headers need.
func New(ctx context.Context, cfg config.S3) (*s3.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	}), nil
}

// EnsureBucket creates bucket unless it exists already.
func EnsureBucket(ctx context.Context, c *s3.Client, bucket string) error {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err == nil {
		return nil
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// Check tells whether the bucket is reachable, for readiness probes.
func Check(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return nil
}

// Reader streams one object. When the connection breaks mid-body it issues
// a ranged GET from the last byte delivered, pinned to the object's ETag so
// a replaced object is never spliced into the old one.
type Reader struct {
	ctx     context.Context
	client  *s3.Client
	bucket  string
	key     string
	etag    string
	size    int64
	offset  atomic.Int64 // read by progress reporters on other goroutines
	body    io.ReadCloser
	retries int // consecutive failed resumes

	// MaxRetries bounds consecutive resume attempts that deliver no byte.
	MaxRetries int
	// Resumed counts ranged GETs issued after a broken connection.
	Resumed int
}

// NewReader opens bucket/key at offset 0.
func NewReader(ctx context.Context, c *s3.Client, bucket, key string) (*Reader, error) {
	r := &Reader{ctx: ctx, client: c, bucket: bucket, key: key, MaxRetries: 5}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reader) open() error {
	in := &s3.GetObjectInput{Bucket: &r.bucket, Key: &r.key}
	if off := r.offset.Load(); off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	if r.etag != "" {
		in.IfMatch = aws.String(r.etag)
	}
	out, err := r.client.GetObject(r.ctx, in)
	if err != nil {
		return fmt.Errorf("get s3://%s/%s at byte %d: %w", r.bucket, r.key, r.offset.Load(), err)
	}
	if r.etag == "" {
		r.etag = aws.ToString(out.ETag)
		r.size = aws.ToInt64(out.ContentLength)
	}
	r.body = out.Body
	return nil
}

// Size is the object's length in bytes.
func (r *Reader) Size() int64 { return r.size }

// Offset is how many bytes have been delivered so far. It is safe to call
// while another goroutine reads.
func (r *Reader) Offset() int64 { return r.offset.Load() }

// ETag is the object's entity tag when it was opened.
func (r *Reader) ETag() string { return strings.Trim(r.etag, `"`) }

func (r *Reader) Read(p []byte) (int, error) {
	for {
		if r.body == nil {
			if r.offset.Load() >= r.size {
				return 0, io.EOF
			}
			if err := r.resume(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		off := r.offset.Add(int64(n))
		if n > 0 {
			r.retries = 0
		}
		if err == nil || (err == io.EOF && off >= r.size) {
			return n, err
		}
		// The stream broke (or ended short): drop it and resume from offset.
		r.body.Close()
		r.body = nil
		if n > 0 {
			return n, nil
		}
		if r.ctx.Err() != nil {
			return 0, r.ctx.Err()
		}
	}
}

func (r *Reader) resume() error {
	if r.retries >= r.MaxRetries {
		return fmt.Errorf("s3://%s/%s: gave up resuming at byte %d after %d tries", r.bucket, r.key, r.offset.Load(), r.retries)
	}
	if r.retries > 0 {
		select {
		case <-time.After(time.Duration(r.retries) * 200 * time.Millisecond):
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	}
	r.retries++
	r.Resumed++
	return r.open()
}

// Close releases the connection.
func (r *Reader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	r.offset.Store(r.size) // no resume after Close
	return err
}
