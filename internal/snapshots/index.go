package snapshots

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/pgident"
	"github.com/restoreportal/portal/internal/seekgz"
)

// DefaultIndexPrefix is where access indexes go when Deps.IndexPrefix is empty:
// outside every snapshot prefix, so sync never lists them.
const DefaultIndexPrefix = "snapshot-index"

// maxIndexBytes bounds the index object a restore reads into memory.
const maxIndexBytes = 256 << 20

// ErrNoIndex is wrapped by LoadIndex's error when the snapshot has no index.
var ErrNoIndex = errors.New("the snapshot has no access index")

// IndexLocation is the bucket and key of the access index of object key at
// version etag: one object per version, so a replaced snapshot never meets the
// index of its predecessor.
func (d Deps) IndexLocation(key, etag string) (bucket, indexKey string) {
	return cmp.Or(d.IndexBucket, d.Bucket), cmp.Or(d.IndexPrefix, DefaultIndexPrefix) + "/" + key + "@" + strings.Trim(etag, `"`) + ".idx"
}

// storeIndex writes idx for snapshot id's object key and records where it is
// and its digest (snapshot_indexes); it returns the index's size in bytes.
func storeIndex(ctx context.Context, d Deps, id int64, key string, idx *seekgz.Index) (int, error) {
	data, err := idx.Marshal()
	if err != nil {
		return 0, err
	}
	bucket, k := d.IndexLocation(key, idx.ETag)
	_, err = d.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &k, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ContentType: aws.String("application/octet-stream")})
	if err != nil {
		return 0, fmt.Errorf("store access index s3://%s/%s: %w", bucket, k, err)
	}
	sum := sha256.Sum256(data)
	err = snapshotIndexPut(ctx, d.Pool, snapshotIndex{snapshotID: id, etag: idx.ETag, bucket: bucket, key: k,
		sha256: hex.EncodeToString(sum[:]), bytes: len(data), checkpoints: len(idx.Checkpoints)})
	if err != nil {
		return 0, fmt.Errorf("record access index of snapshot %d: %w", id, err)
	}
	return len(data), nil
}

// LoadIndex reads the access index verification recorded for snapshot s's
// verified version and checks it is that very object (its SHA-256) and
// describes that version. A missing one wraps ErrNoIndex, an unusable one
// seekgz.ErrBadIndex.
func LoadIndex(ctx context.Context, d Deps, s Snapshot) (*seekgz.Index, error) {
	rec, err := snapshotIndexGet(ctx, d.Pool, s.ID)
	etag, bucket, k, want := rec.etag, rec.bucket, rec.key, rec.sha256
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && strings.Trim(etag, `"`) != strings.Trim(s.ETag, `"`)) {
		return nil, fmt.Errorf("%w for version %s", ErrNoIndex, s.ETag)
	}
	if err != nil {
		return nil, fmt.Errorf("access index of snapshot %d: %w", s.ID, err)
	}
	out, err := d.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &k})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, fmt.Errorf("%w (s3://%s/%s is gone)", ErrNoIndex, bucket, k)
	}
	if err != nil {
		return nil, fmt.Errorf("read access index s3://%s/%s: %w", bucket, k, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxIndexBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read access index s3://%s/%s: %w", bucket, k, err)
	}
	if len(data) > maxIndexBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", seekgz.ErrBadIndex, maxIndexBytes)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("%w: s3://%s/%s is not the index verification wrote (SHA-256 differs)", seekgz.ErrBadIndex, bucket, k)
	}
	idx, err := seekgz.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	if idx.ETag != strings.Trim(s.ETag, `"`) || (s.Size > 0 && idx.Size != s.Size) {
		return nil, fmt.Errorf("%w: it describes version %s of %d bytes, not %s of %d", seekgz.ErrBadIndex, idx.ETag, idx.Size, s.ETag, s.Size)
	}
	return idx, nil
}

// Dump is the plain (uncompressed) dump stream a restore applies.
type Dump struct {
	io.Reader
	// Ranged is true when only the ranges a tables restore needs are read.
	Ranged bool
	// Fallback says why a tables restore reads the whole dump although it could
	// have used the access index; empty when it did not need to.
	Fallback string
	rr       *seekgz.RangeReader
	planned  int64
	readers  []*objstore.Reader // the ranged GETs opened so far
	src      *objstore.Reader   // the whole-object reader the caller opened
	closed   bool
	added    int // resumes Close added to src.Resumed
}

// Progress is how far the read of the snapshot is: compressed bytes received
// so far of those it reads in all (the object for a full read; the planned
// ranges, parts included, for a ranged or parted one), done never above total.
// It is safe to call while another goroutine reads.
func (d *Dump) Progress() (done, total int64) {
	if d.rr == nil {
		if d.src == nil {
			return 0, 0
		}
		return d.src.Offset(), d.src.Size()
	}
	return min(d.BytesRead(), d.planned), d.planned
}

// BytesRead is the compressed bytes received from S3 so far: for a ranged or
// parted read the ranges' bytes, not the object's size. It is safe to call
// while another goroutine reads, and after Close.
func (d *Dump) BytesRead() int64 {
	if d.rr == nil {
		if d.src == nil {
			return 0
		}
		return d.src.Offset()
	}
	return d.rr.Received() + d.partsReceived()
}

// Resumed counts the ranged GETs the range reads issued after broken or stalled
// connections.
func (d *Dump) Resumed() int {
	n := 0
	for _, r := range d.readers {
		n += r.Resumed
		if r == d.src {
			n -= d.added // Close added the others' to src's
		}
	}
	return n
}

// Fetched is the compressed bytes a ranged read has received so far.
func (d *Dump) Fetched() int64 {
	if d.rr == nil {
		return 0
	}
	return d.rr.Received()
}

// Planned is the compressed bytes a ranged read fetches in all.
func (d *Dump) Planned() int64 { return d.planned }

// Close ends the open ranged fetch; the whole-object reader src stays the
// caller's to close.
//
// Close adds, once, the resumes of the ranged GETs other than src to
// src.Resumed, which callers count (the restore metrics).
func (d *Dump) Close() error {
	d.closeParts() // parallel.go
	if !d.closed && d.src != nil {
		d.closed = true
		for _, r := range d.readers {
			if r != d.src {
				d.src.Resumed += r.Resumed
				d.added += r.Resumed
			}
		}
	}
	if d.rr != nil {
		return d.rr.Close()
	}
	return nil
}

// OpenDump returns the plain dump a restore of tables (nil: all of it) from
// snapshot s reads. src is the snapshot opened with OpenVerified. A tables
// restore with a usable access index reads pre-data from the start, each selected
// table's data from its checkpoint and post-data from its checkpoint, each a
// ranged GET pinned to the verified version (src serves the first); the stream
// is the dump less the other tables' data. Without an index, or with an unusable
// one, it reads everything through gunzip as before and says why in Fallback.
func OpenDump(ctx context.Context, d Deps, s Snapshot, src *objstore.Reader, tables []pgident.QualifiedName,
	onChanged func(context.Context, ToVerify)) (*Dump, error) {
	full := func(reason string) (*Dump, error) {
		if reason != "" {
			d.log().Warn("tables restore reads the whole snapshot: "+reason, "snapshot_id", s.ID, "key", s.Key)
		}
		gz, err := seekgz.NewReader(bufio.NewReaderSize(src, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: not gzip: %w", s.Key, err)
		}
		return &Dump{Reader: gz, Fallback: reason, src: src}, nil
	}
	if len(tables) == 0 {
		return full("")
	}
	idx, err := LoadIndex(ctx, d, s)
	switch {
	case errors.Is(err, ErrNoIndex):
		return full("it has no access index (verify it again to build one)")
	case errors.Is(err, seekgz.ErrBadIndex):
		return full("its access index is unusable: " + err.Error())
	case err != nil:
		return full("its access index could not be read: " + err.Error())
	}
	return OpenIndexed(ctx, d, s, src, tables, idx, onChanged)
}

// OpenIndexed is OpenDump with the access index idx already loaded (and
// checked: LoadIndex).
func OpenIndexed(ctx context.Context, d Deps, s Snapshot, src *objstore.Reader, tables []pgident.QualifiedName,
	idx *seekgz.Index, onChanged func(context.Context, ToVerify)) (*Dump, error) {
	full := func() (*Dump, error) {
		gz, err := seekgz.NewReader(bufio.NewReaderSize(src, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: not gzip: %w", s.Key, err)
		}
		return &Dump{Reader: gz, src: src}, nil
	}
	want := map[pgident.QualifiedName]bool{}
	for _, t := range tables {
		want[t] = true
	}
	ranges := idx.Keep(func(sp seekgz.Span) bool { return want[pgident.QualifiedName{Schema: sp.Schema, Name: sp.Name}] }, seekgz.DefaultMinSkip)
	if len(ranges) == 1 && ranges[0] == (seekgz.Range{Start: 0, End: idx.Length}) {
		return full() // nothing worth skipping
	}
	opts := verifiedOptions(ctx, d, s, onChanged)
	dump := &Dump{Ranged: true, planned: idx.Fetched(ranges), src: src}
	fetch := func(start, end int64) (io.ReadCloser, error) {
		if start == 0 && src.Offset() == 0 {
			dump.readers = append(dump.readers, src)
			return limitedCloser{io.LimitReader(src, end), src}, nil
		}
		r, err := objstore.NewRangeReader(ctx, d.S3, d.Bucket, s.Key, start, end, opts)
		if err == nil {
			dump.readers = append(dump.readers, r)
		}
		return r, err
	}
	dump.rr = idx.Open(ranges, fetch)
	dump.Reader = dump.rr
	d.log().Info("tables restore reads ranges through the access index", "snapshot_id", s.ID, "ranges", len(ranges),
		"compressed_bytes", dump.planned, "of", s.Size)
	return dump, nil
}

type limitedCloser struct {
	io.Reader
	c io.Closer
}

func (l limitedCloser) Close() error { return l.c.Close() }
