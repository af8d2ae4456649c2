// Package verify reads snapshot dumps to the end, which the portal never does:
// verification (gunzip, the dump reader's statement gate and inventory, and the
// access index built in the same pass) and capture, which ends in verification.
// It links internal/extract; the catalog it records into stays in
// internal/snapshots, which the portal links without the dump reader.
package verify

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/internal/snapshots"
)

// Snapshot streams snapshot id from S3 through gunzip and the dump reader
// (Inspect) and records the outcome (snapshots.VerifyWith): verified with its
// table inventory and dump metadata, or corrupt with a reason a person can act
// on ("only 37 bytes", "truncated gzip at byte N", "no completion trailer",
// "forbidden meta-command at line 12: \!", "refused statement at line 123:
// ALTER SYSTEM" from the statement gate, extract.CheckEntry).
//
// An error means the check could not run (S3 or the database failed) and the
// snapshot stays pending; a corrupt snapshot is not an error.
func Snapshot(ctx context.Context, d snapshots.Deps, id int64) (snapshots.Snapshot, error) {
	return snapshots.VerifyWith(ctx, d, id, Inspect)
}

// Capture runs pg_dump on ref's database into S3, records the snapshot and
// verifies it (snapshots.CaptureWith). manual snapshots ("snapshot now", the
// safety snapshot before a destructive restore) are never pruned. The returned
// snapshot is verified unless the error says otherwise.
func Capture(ctx context.Context, d snapshots.Deps, ref string, manual bool) (snapshots.Snapshot, error) {
	return snapshots.CaptureWith(ctx, d, ref, manual, nil, Inspect)
}

// CaptureTables is Capture of only tables (pg_dump -t, each name quoted, so
// it matches that one table and is no pattern), a manual snapshot: the
// safety snapshot before a table-scope destructive restore. Its key ends in
// .tables.sql.gz, so a person reading the bucket or the catalog sees it holds
// only some tables.
func CaptureTables(ctx context.Context, d snapshots.Deps, ref string, tables []pgx.Identifier) (snapshots.Snapshot, error) {
	if len(tables) == 0 {
		return snapshots.Snapshot{}, errors.New("capture tables: no tables")
	}
	return snapshots.CaptureWith(ctx, d, ref, true, tables, Inspect)
}

// IndexDump reads the whole gzipped dump src (size bytes, version etag) and
// returns its inventory and access index. Errors are those of seekgz.NewReader
// and extract.InventoryFunc.
func IndexDump(src io.Reader, etag string, size int64) (*seekgz.Index, *extract.InventoryResult, error) {
	z, err := seekgz.NewReader(src)
	if err != nil {
		return nil, nil, err
	}
	b := seekgz.NewBuilder(z)
	d := &seekgz.DumpIndexer{B: b}
	inv, err := extract.InventoryFunc(z, func(e *extract.Entry) { d.Entry(dumpEntry(e)) })
	if err != nil {
		return nil, nil, err
	}
	if _, err := io.Copy(io.Discard, z); err != nil { // the trailer check of the last member
		return nil, nil, err
	}
	return b.Index(etag, size, z.Offset()), inv, nil
}

// dumpEntry is what the access index builder takes of e.
func dumpEntry(e *extract.Entry) seekgz.DumpEntry {
	return seekgz.DumpEntry{Offset: e.Offset, AfterTrailer: e.AfterTrailer, Copy: e.Kind == extract.KindCopy,
		Schema: e.Table.Schema, Name: e.Table.Name}
}

// sourceReader tags the errors of the S3 stream, so a network failure is
// told apart from a corrupt dump.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// Inspect reads snapshot object key from S3 (ranged GETs that resume after a
// broken connection) through gunzip and the dump reader to the end, and
// classifies it: clean, with its table inventory, dump metadata and access
// index (built in the same pass), or corrupt with a reason a person can act on.
// It is a snapshots.Inspector.
func Inspect(ctx context.Context, d snapshots.Deps, key string) (snapshots.Inspection, error) {
	obj, err := objstore.NewReaderWith(ctx, d.S3, d.Bucket, key, d.S3Read)
	if err != nil {
		return snapshots.Inspection{}, err
	}
	defer obj.Close()
	out := snapshots.Inspection{ETag: obj.ETag(), Size: obj.Size()}
	if obj.Size() < snapshots.MinSize {
		out.Reason = fmt.Sprintf("only %d bytes", obj.Size())
		return out, nil
	}
	src := &sourceReader{r: obj}
	zr, err := seekgz.NewReader(src)
	if err != nil {
		if src.err != nil {
			return out, src.err
		}
		out.Reason = gzipReason(err, obj.Offset())
		if errors.Is(err, gzip.ErrHeader) {
			out.Reason = "not gzip (bad header)"
		}
		return out, nil
	}
	ix := &seekgz.DumpIndexer{B: seekgz.NewBuilder(zr)}
	inv, err := extract.InventoryFunc(zr, func(e *extract.Entry) { ix.Entry(dumpEntry(e)) })
	out.Uncompressed = zr.Offset()
	var refused *extract.RefusedError
	switch {
	case err == nil:
	case src.err != nil:
		return out, src.err
	case errors.As(err, &refused):
		out.Reason = refused.Error() // "refused statement at line N: ALTER SYSTEM"
		return out, nil
	case errors.Is(err, extract.ErrForbiddenMeta):
		out.Reason = "forbidden meta-command at " + strings.TrimSuffix(err.Error(), ": "+extract.ErrForbiddenMeta.Error())
		return out, nil
	default:
		out.Reason = gzipReason(err, obj.Offset())
		return out, nil
	}
	if !inv.TrailerSeen {
		out.Reason = "no completion trailer"
		return out, nil
	}
	out.ServerVersion, out.DumpVersion, out.Entries = inv.ServerVersion, inv.DumpVersion, inv.Entries
	for _, t := range inv.Tables {
		out.Tables = append(out.Tables, snapshots.Table{Schema: t.Table.Schema, Name: t.Table.Name, Rows: t.Rows, Bytes: t.Bytes, HasData: t.HasData})
	}
	out.Index = ix.B.Index(out.ETag, out.Size, out.Uncompressed)
	return out, nil
}

// gzipReason words a failure of the gzip stream or of the dump inside it.
func gzipReason(err error, offset int64) string {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Sprintf("truncated gzip at byte %d", offset)
	case errors.Is(err, gzip.ErrHeader):
		return fmt.Sprintf("garbage after the gzip stream at byte %d", offset)
	case errors.Is(err, gzip.ErrChecksum):
		return "gzip checksum mismatch"
	case errors.As(err, &corrupt):
		return fmt.Sprintf("corrupt gzip at byte %d", offset)
	}
	return "unreadable dump: " + err.Error()
}
