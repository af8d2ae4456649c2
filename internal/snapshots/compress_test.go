package snapshots

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// failingWriter takes n bytes, then fails, as the pipe to an upload that
// failed does.
type failingWriter struct{ n int }

var errUploadGone = errors.New("upload gone")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errUploadGone
	}
	w.n -= len(p)
	return len(p), nil
}

// writerGoroutines counts goroutines running the seekable gzip writer's code.
func writerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "internal/seekgz") {
			n++
		}
	}
	return n
}

// TestCompressRoundTripAndFailure: compress's output is ordinary gzip that
// compress/gzip reads back, and when the upload side fails mid-way it
// returns that error and leaves none of the writer's goroutines behind (a capture
// whose upload failed once leaked them). Not parallel: it counts the
// process's goroutines, so no other capture may run meanwhile.
func TestCompressRoundTripAndFailure(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	plain := make([]byte, 6<<20)
	const alphabet = "abcdefgh\t\n0123"
	for i := range plain {
		plain[i] = alphabet[r.IntN(len(alphabet))]
	}
	var out bytes.Buffer
	if err := compress(&out, bytes.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read back %d of %d bytes: %v", len(got), len(plain), err)
	}

	before := writerGoroutines()
	if err := compress(&failingWriter{n: 1 << 20}, bytes.NewReader(plain)); !errors.Is(err, errUploadGone) {
		t.Fatalf("compress into a failing upload = %v, want its error", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for writerGoroutines() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d writer goroutines left after a failed compress", writerGoroutines()-before)
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCompressStaysWithinTheCaptureMemory: what compressWithin allocates for
// 64 MiB of dump-like text is the writer's share of the capture's budget (the
// budget less the uploader's 24 MiB), however much goes through. Not parallel:
// it reads the process's allocation counter.
func TestCompressStaysWithinTheCaptureMemory(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var b bytes.Buffer
	for b.Len() < 64<<20 {
		fmt.Fprintf(&b, "%d\tcustomer %d\t%x\n", r.Int64(), r.IntN(1000), r.Uint64())
	}
	plain := b.Bytes()
	const memory = 40 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := compressWithin(io.Discard, bytes.NewReader(plain), memory); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d MiB compressed with %d bytes allocated", len(plain)>>20, alloc)
	if alloc > memory-uploadMemory {
		t.Fatalf("compressing %d MiB allocated %d bytes, over the writer's share %d of %d", len(plain)>>20, alloc, memory-uploadMemory, memory)
	}
}
