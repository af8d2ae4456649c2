package restore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/seekgz"
)

// Part is one table's data read apart from the main dump stream, which then
// lacks it: a reader of the dump's access index opens it at its checkpoint. Its
// bytes are the table's whole TABLE DATA entry (header comment, COPY block), or
// for a large table one of its pieces, each a whole entry of some of its rows
// (seekgz.Index.OpenPiece): several parts of one table load it by several
// COPYs at once, without FREEZE.
type Part = seekgz.Part

// Parted is a dump stream that leaves some tables' data to be read apart
// (snapshots.Dump opened through an access index for a full restore). Apply
// reads its Parts when Options.Parts is empty.
type Parted interface {
	Parts() []Part
}

// errPartContent is wrapped when a part holds anything but its table's COPY block.
var errPartContent = errors.New("a part of the dump holds more than its table's data")

// startParts starts the part readers: up to Readers (default Jobs) goroutines
// that, once pre-data is applied, each take the largest part left (the order
// of Options.Parts), parse it through the statement gate and hand its COPY
// block to an idle connection, exactly as the main reader does. A part's
// table counts as pending from the start, so post-data on it waits for the
// part; a failing reader fails Apply, which cancels the others. At most
// Readers parts are open at once, and their rows share MemoryBudget.
func (a *applier) startParts(ctx context.Context) {
	parts := a.opts.Parts
	queue := make(chan Part, len(parts))
	pieces := map[extract.QualifiedName]int{}
	for _, p := range parts {
		a.stat(p.Table).pending.Add(1)
		pieces[p.Table]++
		queue <- p
	}
	// A table read in pieces (several parts) is loaded by several COPYs at
	// once: none may TRUNCATE it for COPY FREEZE, which would wait for the
	// others' locks and then drop their rows.
	a.mu.Lock()
	for t, n := range pieces {
		if n > 1 {
			a.truncd[t] = true
		}
	}
	a.mu.Unlock()
	a.partsLeft.Store(int32(len(parts)))
	close(queue)
	n := min(cmp.Or(a.opts.Readers, a.opts.Jobs), len(parts))
	a.ncursors = n // each copy may queue its share of the budget
	for i := range n {
		a.cursors.Add(1)
		go a.partReader(ctx, i+1, queue)
	}
}

func (a *applier) partReader(ctx context.Context, id int, queue <-chan Part) {
	defer a.cursors.Done()
	select {
	case <-a.preDone:
	case <-ctx.Done():
	}
	for p := range queue {
		err := a.firstErr()
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			if err = a.readPart(ctx, id, p); err != nil {
				a.fail(err)
			}
		}
		a.partsLeft.Add(-1)
		a.stat(p.Table).pending.Add(-1)
		a.notify()
	}
}

// reportedPhase is the phase Progress shows: the main stream reaches
// post-data long before the parts are read, but until they are the restore
// is still loading data.
func (a *applier) reportedPhase() extract.Phase {
	ph := extract.Phase(a.phase.Load())
	if ph == extract.PostData && a.partsLeft.Load() > 0 {
		return extract.Data
	}
	return ph
}

// readPart applies part p: exactly one COPY block, of p's table; anything
// else is refused.
func (a *applier) readPart(ctx context.Context, id int, p Part) error {
	rc, err := p.Open(ctx)
	if err != nil {
		return fmt.Errorf("open the data of %s: %w", p.Table, err)
	}
	defer rc.Close()
	rd := extract.NewReader(rc)
	defer func() { a.partBytes.Add(rd.BytesRead()) }()
	copies := 0
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("data of %s: %w", p.Table, err)
		}
		if err := a.firstErr(); err != nil {
			return err
		}
		if err := gate(&e); err != nil {
			return fmt.Errorf("data of %s: %w", p.Table, err)
		}
		if e.Kind != extract.KindCopy || e.Table != p.Table || copies > 0 {
			return fmt.Errorf("data of %s: %s: %w", p.Table, e.FirstLine(),
				&extract.RefusedError{Line: e.Line, What: errPartContent.Error()})
		}
		copies++
		a.entries.Add(1)
		a.stat(e.Table).pending.Add(1)
		if err := a.copy(ctx, &e, id); err != nil {
			return fmt.Errorf("data of %s: %w", p.Table, err)
		}
	}
	if copies == 0 {
		return fmt.Errorf("data of %s: no COPY block where the access index puts it", p.Table)
	}
	return nil
}
