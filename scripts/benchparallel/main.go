// Command benchparallel is scripts/bench-parallel.sh's helper: it builds the
// access index of a local gzipped plain dump, and applies the dump into a
// database in parts through that index (as a full restore with an index does),
// printing where the time went.
//
//	benchparallel index DUMP.sql.gz INDEX
//	benchparallel inflate DUMP.sql.gz INDEX JOBS      # decompression alone, in parts
//	benchparallel apply DUMP.sql.gz INDEX URL JOBS
package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/seekgz"
	"github.com/restoreportal/portal/scripts/benchenv"
)

func main() {
	benchenv.Commands("benchparallel",
		benchenv.Command{Name: "index", Args: []string{"DUMP", "INDEX"}, Run: index},
		benchenv.Command{Name: "inflate", Args: []string{"DUMP", "INDEX", "JOBS"}, Run: func(_ context.Context, args []string) error {
			jobs, _ := strconv.Atoi(args[2])
			return inParts(args[0], args[1], func(main io.Reader, parts []restore.Part) error { return inflate(main, parts, jobs) })
		}},
		benchenv.Command{Name: "apply", Args: []string{"DUMP", "INDEX", "URL", "JOBS"}, Run: func(_ context.Context, args []string) error {
			jobs, _ := strconv.Atoi(args[3])
			return inParts(args[0], args[1], func(main io.Reader, parts []restore.Part) error { return apply(main, parts, args[2], jobs) })
		}})
}

// index builds and writes the access index of the dump and prints its figures.
func index(_ context.Context, args []string) error {
	t0 := time.Now()
	idx, _, err := benchenv.IndexFile(args[0], "bench")
	if err != nil {
		return err
	}
	data, err := idx.Marshal()
	if err != nil {
		return err
	}
	_, parts := idx.Split(seekgz.DefaultMinPart)
	pieces := 0
	for _, sp := range parts {
		pieces += len(idx.Pieces(sp, seekgz.DefaultMinSplit, seekgz.DefaultPiece))
	}
	fmt.Printf("index_s %.2f\nindex_bytes %d\ncheckpoints %d\nparts %d\npieces %d\n", time.Since(t0).Seconds(), len(data), len(idx.Checkpoints), len(parts), pieces)
	return os.WriteFile(args[1], data, 0o644)
}

// inParts opens the local dump's main stream and parts through its index
// (as a full restore with an index does) and hands them to use.
func inParts(dump, index string, use func(main io.Reader, parts []restore.Part) error) error {
	f, err := os.Open(dump)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := os.ReadFile(index)
	if err != nil {
		return err
	}
	idx, err := seekgz.Unmarshal(data)
	if err != nil {
		return err
	}
	fetch := func(start, end int64) (io.ReadCloser, error) {
		return io.NopCloser(bufio.NewReaderSize(io.NewSectionReader(f, start, end-start), 256<<10)), nil
	}
	mainRanges, spans := idx.Split(seekgz.DefaultMinPart)
	// As snapshots.OpenParted: one part per table, largest first; with
	// BENCH_SPLIT_MIB (PORTAL_SPLIT_TABLES_MIB) tables that large in pieces.
	split, _ := strconv.ParseInt(os.Getenv("BENCH_SPLIT_MIB"), 10, 64)
	var pieces []seekgz.Piece
	for _, sp := range spans {
		minSplit := split << 20
		if split <= 0 {
			minSplit = sp.End - sp.Start + 1
		}
		pieces = append(pieces, idx.Pieces(sp, minSplit, seekgz.DefaultPiece)...)
	}
	slices.SortStableFunc(pieces, func(a, b seekgz.Piece) int { return cmp.Compare(b.Bytes(), a.Bytes()) })
	var parts []restore.Part
	for _, pc := range pieces {
		parts = append(parts, restore.Part{Table: extract.QualifiedName{Schema: pc.Schema, Name: pc.Name}, Bytes: pc.Bytes(),
			Open: func(context.Context) (io.ReadCloser, error) { return idx.OpenPiece(pc, fetch) }})
	}
	return use(idx.Open(mainRanges, fetch), parts)
}

// inflate reads the main stream and the parts, jobs parts at a time, to
// io.Discard: the decompression floor of the parallel path.
func inflate(main io.Reader, parts []restore.Part, jobs int) error {
	t0 := time.Now()
	var wg sync.WaitGroup
	q := make(chan restore.Part, len(parts))
	for _, p := range parts {
		q <- p
	}
	close(q)
	errs := make(chan error, jobs+1)
	for range max(jobs, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range q {
				rc, _ := p.Open(context.Background())
				if _, err := io.Copy(io.Discard, rc); err != nil {
					errs <- err
				}
				rc.Close()
			}
		}()
	}
	if _, err := io.Copy(io.Discard, main); err != nil {
		return err
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("inflate_s %.2f\n", time.Since(t0).Seconds())
	return nil
}

type timedCloser struct {
	io.ReadCloser
	done func()
}

func (t timedCloser) Close() error { t.done(); return t.ReadCloser.Close() }

func apply(main io.Reader, parts []restore.Part, url string, jobs int) error {
	t0 := time.Now()
	var mu sync.Mutex
	var busy, lastPart time.Duration
	for i := range parts {
		open := parts[i].Open
		parts[i].Open = func(ctx context.Context) (io.ReadCloser, error) {
			rc, err := open(ctx)
			start := time.Now()
			return timedCloser{rc, func() {
				mu.Lock()
				busy += time.Since(start)
				lastPart = max(lastPart, time.Since(t0))
				mu.Unlock()
			}}, err
		}
	}
	seen := map[extract.Phase]time.Duration{}
	res, err := restore.Apply(context.Background(), main, restore.Options{DatabaseURL: url, Jobs: jobs, Parts: parts,
		ProgressInterval: 100 * time.Millisecond,
		Progress: func(p restore.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := seen[p.Phase]; !ok {
				seen[p.Phase] = time.Since(t0)
			}
		}})
	if err != nil {
		return err
	}
	total := time.Since(t0)
	fmt.Printf("apply_s %.2f\nparts %d\nparts_read_s %.2f\nlast_part_read_at_s %.2f\n", total.Seconds(), len(parts), busy.Seconds(), lastPart.Seconds())
	// Phase marks are first seen at 100 ms resolution: pre-data ends when data
	// starts, post-data is everything after the main stream reached it
	// (waiting for the parts' COPYs, then keys and indexes).
	mu.Lock()
	defer mu.Unlock()
	if d, ok := seen[extract.PostData]; ok {
		fmt.Printf("main_stream_to_post_data_s %.2f\npost_data_after_s %.2f\n", d.Seconds(), (total - d).Seconds())
	}
	var rows int64
	for _, t := range res.Tables {
		rows += t.CopiedRows
	}
	fmt.Printf("rows %d\n", rows)
	return nil
}
