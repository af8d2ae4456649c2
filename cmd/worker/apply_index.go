package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/restoreportal/portal/internal/config"
	"github.com/restoreportal/portal/internal/database"
	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
)

// openIndexed opens the dump at loc through its stored access index, when it
// has one: loc is s3://bucket/key in PORTAL_S3_BUCKET, the portal's database
// (PORTAL_DATABASE_URL, which holds the index's digest: the index bucket may be
// writable by others) answers, the catalog has the key verified, the object is
// still the version verification read, and the index checks out (LoadIndex). A
// tables apply then reads only the ranges it needs; a full one reads the large
// tables' data in parts on several connections. Every read is pinned to the
// verified version. Otherwise r is nil and why says why, and the caller reads
// the whole object as before.
func openIndexed(ctx context.Context, loc string, tables []extract.QualifiedName) (r io.Reader, closeFn func(), why string) {
	rest, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		return nil, nil, "a local file has no stored access index"
	}
	bucket, key, _ := strings.Cut(rest, "/")
	dbURL := config.Environ("PORTAL_DATABASE_URL")
	if dbURL == "" {
		return nil, nil, "PORTAL_DATABASE_URL is not set (the access index's digest is in the portal's database)"
	}
	s3cfg, err := config.LoadS3(config.Environ)
	if err != nil {
		return nil, nil, err.Error()
	}
	if bucket != s3cfg.Bucket {
		return nil, nil, fmt.Sprintf("s3://%s is not the snapshot bucket PORTAL_S3_BUCKET=%s", bucket, s3cfg.Bucket)
	}
	client, err := objstore.New(ctx, s3cfg)
	if err != nil {
		return nil, nil, err.Error()
	}
	pool, err := database.Open(ctx, dbURL)
	if err != nil {
		return nil, nil, "the portal's database does not answer: " + err.Error()
	}
	fail := func(why string) (io.Reader, func(), string) { pool.Close(); return nil, nil, why }
	s, err := snapshots.SnapshotGetByKey(ctx, pool, key)
	if err != nil {
		return fail("the catalog has no snapshot " + key + ": " + err.Error())
	}
	if s.Status != snapshots.StatusVerified || s.ETag == "" {
		return fail(fmt.Sprintf("snapshot %d is %s, not verified", s.ID, s.Status))
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return fail("HEAD " + loc + ": " + err.Error())
	}
	if etag := strings.Trim(aws.ToString(head.ETag), `"`); etag != strings.Trim(s.ETag, `"`) {
		return fail(fmt.Sprintf("the object is version %s, not the verified %s", etag, s.ETag))
	}
	d := snapshots.Deps{Pool: pool, S3: client, Bucket: bucket, Log: slog.New(slog.DiscardHandler),
		S3Read: objstore.ReaderOptionsFrom(s3cfg), IndexBucket: s3cfg.IndexBucket, IndexPrefix: s3cfg.IndexPrefix}
	idx, err := snapshots.LoadIndex(ctx, d, s)
	if err != nil {
		return fail(err.Error())
	}
	src, err := snapshots.OpenVerified(ctx, d, s, nil)
	if err != nil {
		return fail(err.Error())
	}
	var dump *snapshots.Dump
	if len(tables) > 0 {
		dump, err = snapshots.OpenIndexed(ctx, d, s, src, tables, idx, nil)
	} else {
		dump, err = snapshots.OpenParted(ctx, d, s, src, idx, seekgz.DefaultMinPart, nil)
	}
	if err != nil {
		src.Close()
		return fail(err.Error())
	}
	closeFn = func() { dump.Close(); src.Close(); pool.Close() }
	switch {
	case dump.Ranged:
		why = fmt.Sprintf("reading %d of %d compressed bytes through the access index", dump.Planned(), s.Size)
	case len(dump.Parts()) > 0:
		why = fmt.Sprintf("reading %d tables' data in parts through the access index", len(dump.Parts()))
	default:
		why = "the access index leaves nothing to skip or split: reading the verified version whole"
	}
	return dump, closeFn, why
}

// errNoIndex is what --index=require fails with when openIndexed cannot.
var errNoIndex = errors.New("apply: the access index cannot be used")

// openDumpIndexed is openDump through the access index as mode says (auto,
// off, require), telling stderr which read it is.
func openDumpIndexed(ctx context.Context, loc string, tables []extract.QualifiedName, mode string, stderr io.Writer) (io.Reader, func(), error) {
	switch mode {
	case "off":
		return openDump(ctx, loc)
	case "auto", "require":
	default:
		return nil, nil, fmt.Errorf("apply: --index %q is not auto, off or require", mode)
	}
	r, closeFn, why := openIndexed(ctx, loc, tables)
	if r != nil {
		fmt.Fprintf(stderr, "apply: %s\n", why)
		return r, closeFn, nil
	}
	if mode == "require" {
		return nil, nil, fmt.Errorf("%w: %s", errNoIndex, why)
	}
	fmt.Fprintf(stderr, "apply: reading the whole dump: %s\n", why)
	return openDump(ctx, loc)
}
