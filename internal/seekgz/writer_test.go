package seekgz

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"
)

// writeSeekable compresses plain with a Writer of members at most max bytes,
// in writes of step bytes.
func writeSeekable(t *testing.T, plain []byte, max, step int) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, 2)
	w.max = max
	for i := 0; i < len(plain); i += step {
		if _, err := w.Write(plain[i:min(i+step, len(plain))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestWriterIsPlainGzipWithAMemberPerTable: what Writer writes is a multi-member
// gzip file compress/gzip reads back exactly; big tables start members of their
// own, so their checkpoints carry no window and the index is smaller.
func TestWriterIsPlainGzipWithAMemberPerTable(t *testing.T) {
	t.Parallel()
	plain, single := manyTables(t, 12, 40000, 1)
	for _, step := range []int{1 << 20, 7777} {
		data := writeSeekable(t, plain, 4<<20, step)
		got, err := io.ReadAll(must(gzip.NewReader(bytes.NewReader(data))))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("step %d: compress/gzip reads %d bytes (%v), want %d", step, len(got), err, len(plain))
		}
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		if r.Members() < 12 {
			t.Fatalf("step %d: %d members for 12 tables of over 1 MiB each", step, r.Members())
		}
		idx := indexOf(t, data, DefaultEvery, 0)
		empty := 0
		for _, c := range idx.Checkpoints {
			if len(c.Window) == 0 {
				empty++
			}
		}
		if empty < 10 {
			t.Fatalf("step %d: %d of %d checkpoints without a window", step, empty, len(idx.Checkpoints))
		}
		// klauspost/compress at its default level trades about 6% of size for
		// three times the speed of compress/gzip.
		if len(data) > len(single)*110/100 {
			t.Errorf("step %d: %d bytes, compress/gzip in one member %d", step, len(data), len(single))
		}
	}
}

func TestWriterEmptyAndErrors(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := NewWriter(&out, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(must(gzip.NewReader(&out))); err != nil || len(got) != 0 {
		t.Fatalf("empty input: %q, %v", got, err)
	}
	boom := errors.New("disk full")
	w = NewWriter(failWriter{boom}, 2)
	w.max = 1 << 10
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = w.Write(bytes.Repeat([]byte("row\n"), 1<<10))
	}
	if cerr := w.Close(); !errors.Is(cerr, boom) {
		t.Fatalf("Close = %v (last Write %v), want the write error", cerr, err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
