package verify

import (
	"context"
	"io"
	"testing"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/testenv/dumptest"
)

// TestRangedReadProgressIsByTheRangesRead: a ranged table restore's progress
// is the compressed bytes of its ranges received against their sum: small
// once pre-data is read (src, which served that first range, is closed then and
// reports the whole object), growing with the table's rows, near the total at
// the end, and what it read in all (the bytes metric) is the ranges', not the
// object's, also after Close.
func TestRangedReadProgressIsByTheRangesRead(t *testing.T) {
	t.Parallel()
	d, s, _ := verifiedSeek(t, 10)
	dump, src := openDump(t, d, s, "big2")
	if !dump.Ranged {
		t.Fatal("not ranged")
	}
	last, total := int64(0), int64(0)
	dumptest.Each(t, "", dump, func(e *extract.Entry) {
		done, tot := dump.Progress()
		if done < last || done > tot || tot != dump.Planned() {
			t.Fatalf("progress %d of %d after %d (planned %d)", done, tot, last, dump.Planned())
		}
		last, total = done, tot
		if e.Kind == extract.KindCopy && e.Table.Name == "big2" {
			// Pre-data is read; the object reader that served it is closed.
			if done*4 > total {
				t.Fatalf("progress %d of %d once pre-data is read: the table's rows are most of it", done, total)
			}
			if _, err := io.CopyN(io.Discard, e.Rows, 4<<20); err != nil {
				t.Fatal(err)
			}
			mid, _ := dump.Progress()
			if mid <= done || mid*10 > total*9 {
				t.Fatalf("progress %d of %d 4 MiB into the rows (%d before)", mid, total, done)
			}
		}
	})
	if last*10 < total*9 {
		t.Errorf("progress %d of %d at the end", last, total)
	}
	read := dump.BytesRead()
	if read > dump.Planned() || read*10 < dump.Planned()*9 || read*3 > s.Size*2 {
		t.Errorf("read %d compressed bytes: planned %d, object %d (big1 is skipped)", read, dump.Planned(), s.Size)
	}
	if err := dump.Close(); err != nil {
		t.Fatal(err)
	}
	if dump.BytesRead() != read || src.Offset() != s.Size {
		t.Errorf("after Close: read %d (was %d); the object reader says %d of %d", dump.BytesRead(), read, src.Offset(), s.Size)
	}
	t.Logf("ranged read of big2: %d of %d planned, object %d", read, dump.Planned(), s.Size)
}

// TestPartedReadProgressCountsTheParts: a full restore in parts reads the main
// stream and each part by ranges of their own; its progress and bytes read
// are their sum, so reading the main stream alone is far from done.
func TestPartedReadProgressCountsTheParts(t *testing.T) {
	t.Parallel()
	d, s, _ := verifiedSeek(t, 10)
	dump := openParallel(t, d, s)
	if len(dump.Parts()) != 2 {
		t.Fatalf("%d parts", len(dump.Parts()))
	}
	if _, err := io.Copy(io.Discard, dump); err != nil {
		t.Fatal(err)
	}
	done, total := dump.Progress()
	if total != dump.Planned() || done*4 > total {
		t.Fatalf("main stream read: progress %d of %d (planned %d)", done, total, dump.Planned())
	}
	for _, p := range dump.Parts() {
		rc, err := p.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	done, total = dump.Progress()
	if done*10 < total*9 || done > total || dump.BytesRead() > s.Size+s.Size/10 {
		t.Fatalf("all read: progress %d of %d, read %d of the %d-byte object", done, total, dump.BytesRead(), s.Size)
	}
}

// TestFullReadProgressIsTheObject: without ranges the progress is the object
// reader's.
func TestFullReadProgressIsTheObject(t *testing.T) {
	t.Parallel()
	d, s, _ := verifiedSeek(t, 1)
	dump, src := openDump(t, d, s)
	if dump.Ranged {
		t.Fatal("a full read is ranged")
	}
	if _, err := io.Copy(io.Discard, dump); err != nil {
		t.Fatal(err)
	}
	if done, total := dump.Progress(); done != src.Offset() || total != s.Size || dump.BytesRead() != s.Size {
		t.Fatalf("progress %d of %d, read %d, object %d", done, total, dump.BytesRead(), s.Size)
	}
}
