package seekgz

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
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

// gatedWriter takes nothing until open is closed, then keeps what it is given:
// an upload that has stalled.
type gatedWriter struct {
	open chan struct{}
	out  bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	return g.out.Write(p)
}

// incompressible returns n bytes deflate cannot shrink (random 4 MiB blocks
// repeated, farther apart than its window), in lines.
func incompressible(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, 4<<20)
	for i := range block {
		block[i] = byte(r.Uint32())
		if i%200 == 199 {
			block[i] = '\n'
		}
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, block[:min(len(block), n-len(out))]...)
	}
	return out
}

// TestWriterMemoryBoundUnderAStalledUpload: with the output stalled, the Writer
// fills every place it has (all members in flight compressed, the next member
// full) and then waits, its buffers within the budget less the compressors'
// state; incompressible data is the worst case (compressed = plain). Once the
// output moves, everything comes out in order.
func TestWriterMemoryBoundUnderAStalledUpload(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		workers int
		memory  int64
	}{{3, 12 << 20}, {2, 40 << 20}, {8, 24 << 20}, {1, 3 << 20}} {
		g := &gatedWriter{open: make(chan struct{})}
		w := NewWriterOptions(g, WriterOptions{Workers: c.workers, Memory: c.memory})
		n, size := w.Members(), w.MemberSize()
		if n < 1 || n > c.workers || size > MemberMax {
			t.Fatalf("%+v: plan %d members of %d bytes", c, n, size)
		}
		plain := incompressible(int(c.memory) * 3)
		wrote := make(chan error, 1)
		go func() {
			_, err := w.Write(plain)
			wrote <- err
		}()
		// Stalled: a flush is waiting for a slot and no member is still being
		// compressed; the Writer holds all it ever will.
		deadline := time.Now().Add(60 * time.Second)
		for w.Waits() == 0 || w.compressing.Load() != 0 || len(w.slots) != n {
			if time.Now().After(deadline) {
				t.Fatalf("%+v: the writer did not fill up (waits %d, compressing %d, in flight %d)",
					c, w.Waits(), w.compressing.Load(), len(w.slots))
			}
			runtime.Gosched()
			time.Sleep(5 * time.Millisecond)
		}
		stalled := w.Peak()
		// Every member in flight holds about its size compressed, and the one
		// waiting to go is full.
		if want := int64(n) * int64(size); stalled < want {
			t.Errorf("%+v: %d bytes held while stalled, want at least %d (%d members of %d)", c, stalled, want, n, size)
		}
		close(g.open)
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := w.Allocated() + int64(n)*compressorMemory; got > c.memory {
			t.Errorf("%+v: buffers %d bytes + %d compressors = %d, over the budget %d", c, w.Allocated(), n, got, c.memory)
		}
		if w.Peak() > w.Allocated() {
			t.Errorf("%+v: peak %d over allocated %d", c, w.Peak(), w.Allocated())
		}
		got, err := io.ReadAll(must(gzip.NewReader(&g.out)))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%+v: read back %d of %d bytes: %v", c, len(got), len(plain), err)
		}
		t.Logf("%+v: %d members of %d bytes in flight, held %d stalled, allocated %d", c, n, size, stalled, w.Allocated())
	}
}

// TestWriterAllocatesWithinItsBudget measures the process's allocations while
// 64 MiB of dump text goes through a Writer with a 16 MiB budget: its buffers
// and compressors are reused, so it allocates about the budget whatever the
// input's size. Not parallel: it reads the process's allocation counter.
func TestWriterAllocatesWithinItsBudget(t *testing.T) {
	plain, _ := manyTables(t, 30, 60000, 1)
	for len(plain) < 64<<20 {
		plain = append(plain, plain...)
	}
	const budget = 16 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := NewWriterOptions(io.Discard, WriterOptions{Workers: 4, Memory: budget})
	for i := 0; i < len(plain); i += 32 << 10 { // io.Copy's writes
		if _, err := w.Write(plain[i:min(i+32<<10, len(plain))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB in, %d members of %d in flight, %d bytes allocated (buffers %d)", len(plain)>>20, w.Members(), w.MemberSize(), alloc, w.Allocated())
	if alloc > budget {
		t.Fatalf("compressing %d MiB allocated %d bytes, over the budget of %d", len(plain)>>20, alloc, budget)
	}
}

func TestWriterPlan(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		memory           int64
		workers          int
		members, atLeast int
	}{
		{DefaultMemory, 2, 2, 20 << 20},  // this machine: two members of about 24 MiB
		{DefaultMemory, 32, 32, 1 << 20}, // a 32-core worker: small members on every core
		{DefaultMemory, 64, 0, 1 << 20},  // fewer than 64 compressors fit: members stay ≥ 1 MiB
		{1 << 30, 4, 4, MemberMax},       // plenty: the full 32 MiB
		{1 << 20, 4, 1, memberTiny},      // too little for any plan: the smallest
	} {
		n, size := plan(c.memory, c.workers)
		if (c.members != 0 && n != c.members) || size < c.atLeast || size > MemberMax || n < 1 {
			t.Errorf("plan(%d, %d) = %d members of %d", c.memory, c.workers, n, size)
		}
		if c.memory >= cost(1, memberTiny) && cost(int64(n), int64(size)) > c.memory {
			t.Errorf("plan(%d, %d) = %d of %d costs %d", c.memory, c.workers, n, size, cost(int64(n), int64(size)))
		}
	}
}
