package runbook

import (
	"context"
	"fmt"

	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// openDump chooses how a restore reads snapshot snap: a tables restore through
// the snapshot's access index (only the ranges it needs), anything else, or a
// tables restore without a usable index, the whole object from src. A fallback is
// logged and noted on the ticket, so staff know why a table took long.
func (r *restoreRun) openDump(ctx context.Context, snap snapshots.Snapshot, src *objstore.Reader, tables []extract.QualifiedName) (*snapshots.Dump, error) {
	dump, err := snapshots.OpenDumpParallel(ctx, r.d.snapshots(), snap, src, tables, r.d.enqueueVerify) // full restores: in parts with an index
	if err != nil {
		return nil, err
	}
	if dump.Ranged {
		r.log.Info("tables restore reads ranges through the access index", "snapshot_id", snap.ID,
			"compressed_bytes", dump.Planned(), "of", snap.Size)
		r.note(ctx, "ranged read of the snapshot", fmt.Sprintf("Read through the snapshot's access index: %d of %d compressed bytes.",
			dump.Planned(), snap.Size))
	}
	if dump.Fallback != "" {
		r.log.Warn("tables restore reads the whole snapshot", "snapshot_id", snap.ID, "reason", dump.Fallback)
		r.note(ctx, "full read of the snapshot", "The snapshot is read whole because "+dump.Fallback+".")
	}
	return dump, nil
}

// note adds a system entry to the ticket's thread; failing to is only logged.
func (r *restoreRun) note(ctx context.Context, subject, body string) {
	if _, err := tickets.AddEntry(ctx, r.d.Pool, tickets.SystemActor("worker"), tickets.Entry{TicketID: r.t.ID,
		Kind: tickets.EntrySystem, Subject: subject, Body: body}); err != nil {
		r.log.Warn("could not note on the ticket", "subject", subject, "err", err)
	}
}
