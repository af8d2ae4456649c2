package snapshots

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ProjectInBucket says whether S3 holds any object under ref's prefix: a
// "sync now" of a project the catalog does not know yet looks there before
// answering that there is no such project.
func ProjectInBucket(ctx context.Context, client *s3.Client, bucket, prefix, ref string) (bool, error) {
	if !ValidRef(ref) {
		return false, nil
	}
	p := ProjectPrefix(prefix, ref)
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &p, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, fmt.Errorf("list s3://%s/%s: %w", bucket, p, err)
	}
	return len(out.Contents) > 0, nil
}
