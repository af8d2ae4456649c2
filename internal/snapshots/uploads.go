package snapshots

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Unfinished multipart uploads hold their parts in the bucket (billed, and
// listed by no ListObjects) until they are aborted. A capture that fails
// aborts its own; a worker killed mid-capture cannot, so retention sweeps
// the ones older than StaleUploadAge under the snapshot prefix.

// StaleUploadAge is how old an unfinished multipart upload under the
// snapshot prefix must be before the sweep aborts it: far longer than any
// part takes to upload, so a capture in progress is never touched.
const StaleUploadAge = 6 * time.Hour

// abortUpload aborts the multipart upload a failed Upload left (its error
// names it), with a bounded context of its own: ctx may be the cancelled
// one. A single-part upload leaves nothing to abort.
func abortUpload(ctx context.Context, d Deps, key string, uploadErr error) error {
	var mu manager.MultiUploadFailure
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !errors.As(uploadErr, &mu) || mu.UploadID() == "" {
		// A cancel during CreateMultipartUpload may come after the server
		// created the upload: the client never learnt its id. The key is this
		// capture's own (no snapshot had it), so its unfinished uploads are.
		if !strings.Contains(uploadErr.Error(), "CreateMultipartUpload") {
			return nil
		}
		return abortUploadsOf(ctx, d, key)
	}
	id := mu.UploadID()
	if _, err := d.S3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &d.Bucket, Key: &key, UploadId: &id}); err != nil {
		return fmt.Errorf("abort the unfinished upload of s3://%s/%s (the sweep retries): %w", d.Bucket, key, err)
	}
	d.log().Info("aborted the unfinished upload of a failed capture", "key", key)
	return nil
}

// abortUploadsOf aborts every unfinished upload of exactly key.
func abortUploadsOf(ctx context.Context, d Deps, key string) error {
	out, err := d.S3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &d.Bucket, Prefix: &key})
	if err != nil {
		return fmt.Errorf("list the unfinished uploads of s3://%s/%s (the sweep retries): %w", d.Bucket, key, err)
	}
	var errs []error
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) != key {
			continue
		}
		if _, err := d.S3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &d.Bucket, Key: &key, UploadId: u.UploadId}); err != nil {
			errs = append(errs, fmt.Errorf("abort the unfinished upload of s3://%s/%s (the sweep retries): %w", d.Bucket, key, err))
			continue
		}
		d.log().Info("aborted the unfinished upload of a failed capture", "key", key)
	}
	return errors.Join(errs...)
}

// AbortStaleUploads aborts every unfinished multipart upload under the
// snapshot prefix started before olderThan ago, and returns the keys.
func AbortStaleUploads(ctx context.Context, d Deps, olderThan time.Duration, now time.Time) ([]string, error) {
	prefix := strings.TrimSuffix(d.Prefix, "/") + "/"
	in := &s3.ListMultipartUploadsInput{Bucket: &d.Bucket, Prefix: &prefix}
	var aborted []string
	var errs []error
	for {
		out, err := d.S3.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, fmt.Errorf("list unfinished uploads under %s: %w", prefix, err)
		}
		for _, u := range out.Uploads {
			if u.Initiated == nil || !u.Initiated.Before(now.Add(-olderThan)) {
				continue
			}
			if _, err := d.S3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &d.Bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
				errs = append(errs, fmt.Errorf("abort unfinished upload of %s: %w", aws.ToString(u.Key), err))
				continue
			}
			aborted = append(aborted, aws.ToString(u.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	if len(aborted) > 0 {
		d.log().Warn("aborted stale unfinished uploads", "count", len(aborted), "older_than", olderThan)
	}
	return aborted, errors.Join(errs...)
}
