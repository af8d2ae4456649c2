package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/extract"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// undelete restores the ticket's tables into a recorded staging database,
// checks their columns still fit the live tables, and merges in one live
// transaction, as the live database's owner, only the rows whose primary key
// is missing live (cluster.MergeRows): no live row is updated or deleted, so
// no safety snapshot is taken and no backup kept; the inserted keys are
// recorded with the transaction id before the commit, and a rollback deletes
// exactly those rows. A retry reads the record first.
func (r *restoreRun) undelete(ctx context.Context, snap snapshots.Snapshot, tables []extract.QualifiedName) (_ tickets.Result, err error) {
	if r.t.Scope.Kind != tickets.ScopeTables {
		return tickets.Result{}, errors.New("an undelete merges rows into chosen tables: it needs the tables scope, not the full database")
	}
	cl, live, err := r.liveTarget(ctx)
	if err != nil {
		return tickets.Result{}, err
	}
	if rec, err := undeleteGet(ctx, r.d.Pool, r.t.ID, "restore"); err == nil {
		done, err := resolveUndelete(ctx, r.d.Pool, cl, rec)
		if err != nil {
			return tickets.Result{}, err
		}
		if done {
			r.log.Warn("the rows were merged by an earlier attempt; finishing")
			var rep mergeReport
			if err := json.Unmarshal(rec.Report, &rep); err != nil {
				return tickets.Result{}, errAfterCutover{fmt.Errorf("the recorded undelete report: %w", err)}
			}
			return r.withReviewNote(ctx, undeleteResult(live, rep, nil)), nil
		}
	} else if !errors.Is(err, errNoUndelete) {
		return tickets.Result{}, err
	}

	mtables := make([]cluster.MergeTable, len(tables))
	ctables := make([]cluster.Table, len(tables))
	names := make([]string, len(tables))
	lim := r.t.Options.Undelete
	for i, q := range tables {
		ctables[i] = cluster.Table{Schema: q.Schema, Name: q.Name}
		names[i] = ctables[i].String()
		mtables[i] = cluster.MergeTable{Table: ctables[i]}
		if lim.Limits() && (lim.Table == names[i] || strings.ReplaceAll(lim.Table, `"`, "") == names[i]) {
			mtables[i].Keys = lim.Keys
			if lim.HasFilter() {
				f := lim.Filter
				mtables[i].Filter = &cluster.MergeFilter{Column: f.Column, Op: f.Op, Value: f.Value}
			}
		}
	}
	own := r.records(cl)
	staging := cluster.StagingName(live, r.t.ID)
	// A staged review (staged.go): a confirmed one goes on from its copy.
	stg, resumed, err := r.stagedResume(ctx, own, staging)
	if err != nil {
		return tickets.Result{}, err
	}
	if err := r.precheck(ctx, snap); err != nil {
		return tickets.Result{}, err
	}
	if !resumed {
		if stg, err = r.newStaging(ctx, cl, own, staging); err != nil {
			return tickets.Result{}, err
		}
	}
	paused := false
	defer func() {
		if paused || r.keepReviewedCopy(ctx, resumed, err) {
			return // the staged review keeps the copy
		}
		if err := own.drop(ctx, stg); err != nil {
			r.log.Error("could not drop the staging database", "database", staging, "err", err)
		}
	}()
	// The exact dry run, then the pause until an approver confirms.
	var cp stagedCopy
	if cp, paused, err = r.applyAndReview(ctx, cl, snap, staging, live, tables, ctables, r.undeleteLimits(mtables), resumed); err != nil {
		return tickets.Result{}, err
	}
	defer cp.close()
	if paused {
		return tickets.Result{}, errAwaitingCutover
	}
	res, sc, lc := cp.res, cp.sc, cp.lc
	var warnings []string
	if res != nil {
		warnings = res.Warnings
	}

	r.setPhase(tickets.PhaseCutover, "locking the live tables and inserting the missing rows in one transaction")
	if err := r.flushProgress(ctx); err != nil {
		if errors.Is(err, tickets.ErrNotRunning) {
			r.cancel(errTicketCancelled)
		}
		return tickets.Result{}, err
	}
	rec := undeleteRec{TicketID: r.t.ID, Op: "restore", LiveDatabase: live, Staging: staging, Tables: names}
	if err := undeletePrepare(ctx, r.d.Pool, rec); err != nil {
		return tickets.Result{}, err
	}
	committing := false
	m, err := cluster.MergeRows(context.WithoutCancel(ctx), lc, sc, mtables, cluster.MergeOptions{
		OnLockWait: lockWaitReporter(r.setPhase),
		Step:       func(s string) { r.setPhase(tickets.PhaseCutover, "undelete: "+s) },
		BeforeCommit: func(ctx context.Context, m cluster.Merged) error {
			committing = true
			if err := undeleteCommitting(ctx, r.d.Pool, r.t.ID, "restore", m.XID, mergeReport{Tables: m.Tables, Sequences: m.Sequences}, m.Tables); err != nil {
				return err
			}
			return r.step(ctx, StepMerged)
		},
	})
	if err != nil {
		if !committing {
			return tickets.Result{}, err
		}
		// The commit's outcome is unknown: the record says.
		got, gerr := undeleteGet(ctx, r.d.Pool, r.t.ID, "restore")
		if gerr != nil {
			return tickets.Result{}, errors.Join(err, gerr)
		}
		done, rerr := resolveUndelete(ctx, r.d.Pool, cl, got)
		if rerr != nil || !done {
			return tickets.Result{}, errors.Join(err, rerr)
		}
		var rep mergeReport
		if err := json.Unmarshal(got.Report, &rep); err != nil {
			return tickets.Result{}, errAfterCutover{err}
		}
		return r.withReviewNote(ctx, undeleteResult(live, rep, warnings)), nil
	}
	// Committed; the record still says committing until the next line, and
	// a retry resolves it from the transaction id.
	if err := r.step(ctx, StepCutover); err != nil {
		return tickets.Result{}, errAfterCutover{err}
	}
	if err := undeleteCommitted(context.WithoutCancel(ctx), r.d.Pool, r.t.ID, "restore"); err != nil {
		return tickets.Result{}, errAfterCutover{err}
	}
	out := r.withReviewNote(ctx, undeleteResult(live, mergeReport{Tables: m.Tables, Sequences: m.Sequences}, warnings))
	if m.LockWaited > 1e9 {
		out.Message += fmt.Sprintf(" Waited %s for other sessions to release the tables.", m.LockWaited.Round(1e8))
	}
	return out, nil
}

// undeleteResult is the ticket's result of a committed merge.
func undeleteResult(live string, rep mergeReport, warnings []string) tickets.Result {
	out := tickets.Result{TargetDatabase: live, RowCounts: map[string]int64{}, Warnings: warnings}
	var lines []string
	for _, m := range rep.Tables {
		out.RowCounts[m.Table] = m.Inserted
		out.Undelete = append(out.Undelete, tickets.UndeleteTable{Table: m.Table, KeyColumns: m.KeyColumns, Candidates: m.Candidates,
			Inserted: m.Inserted, Conflicts: m.Conflicts, ConflictSamples: m.ConflictSamples, Unchanged: m.Unchanged, OtherKey: m.OtherKey})
		line := fmt.Sprintf("%s: %s rows inserted, %s conflicts left as they are live", m.Table, cluster.Thousands(m.Inserted), cluster.Thousands(m.Conflicts))
		if len(m.ConflictSamples) > 0 {
			line += " (" + strings.Join(m.ConflictSamples, ", ") + ")"
		}
		if m.OtherKey > 0 {
			line += fmt.Sprintf(", %s missing rows not inserted because another unique key is taken live", cluster.Thousands(m.OtherKey))
		}
		lines = append(lines, line)
	}
	out.Message = fmt.Sprintf("Undelete into %s: %s. No live row was updated or deleted; the inserted keys are recorded, and a rollback deletes exactly those rows.",
		live, joinLines(lines))
	return out
}

// rollbackUndelete deletes exactly the rows the ticket's merge inserted, in
// one transaction that refuses (naming them) when rows written since point
// at them. A retry reads the record of an earlier attempt first.
func (w *rollbacker) rollbackUndelete(ctx context.Context, cl *cluster.Cluster, t tickets.Ticket) error {
	rec, err := undeleteGet(ctx, w.d.Pool, t.ID, "restore")
	if errors.Is(err, errNoUndelete) {
		return errors.New("the undelete recorded no merge: nothing to roll back")
	}
	if err != nil {
		return err
	}
	if done, err := resolveUndelete(ctx, w.d.Pool, cl, rec); err != nil {
		return err
	} else if !done {
		return fmt.Errorf("the undelete of ticket %d is recorded as %s, not committed: nothing to roll back", t.ID, rec.State)
	}
	var un cluster.Unmerged
	prev, err := undeleteGet(ctx, w.d.Pool, t.ID, "rollback")
	done := false
	if err == nil {
		if done, err = resolveUndelete(ctx, w.d.Pool, cl, prev); err != nil {
			return err
		}
		if done {
			_ = json.Unmarshal(prev.Report, &un)
		}
	} else if !errors.Is(err, errNoUndelete) {
		return err
	}
	if !done {
		keys, err := undeleteKeys(ctx, w.d.Pool, t.ID)
		if err != nil {
			return err
		}
		lc, closeLC, err := ownerSession(ctx, cl, rec.LiveDatabase, w.d.Log)
		if err != nil {
			return err
		}
		defer closeLC()
		rb := undeleteRec{TicketID: t.ID, Op: "rollback", LiveDatabase: rec.LiveDatabase, Tables: rec.Tables}
		if err := undeletePrepare(ctx, w.d.Pool, rb); err != nil {
			return err
		}
		var mergeXID uint64
		if rec.XID != nil {
			mergeXID = uint64(*rec.XID)
		}
		committing := false
		un, err = cluster.UnmergeRows(context.WithoutCancel(ctx), lc, keys, mergeXID, cluster.MergeOptions{
			BeforeRollbackCommit: func(ctx context.Context, u cluster.Unmerged) error {
				committing = true
				return undeleteCommitting(ctx, w.d.Pool, t.ID, "rollback", u.XID, u, nil)
			},
		})
		if err != nil && committing {
			if got, gerr := undeleteGet(ctx, w.d.Pool, t.ID, "rollback"); gerr == nil {
				if ok, rerr := resolveUndelete(ctx, w.d.Pool, cl, got); rerr == nil && ok {
					err = nil
					_ = json.Unmarshal(got.Report, &un)
				}
			}
		}
		if err != nil {
			return err
		}
		if err := undeleteCommitted(context.WithoutCancel(ctx), w.d.Pool, t.ID, "rollback"); err != nil {
			return err
		}
	}
	var lines []string
	for _, n := range sortedKeys(un.Deleted) {
		line := fmt.Sprintf("%s: %s undeleted rows deleted", n, cluster.Thousands(un.Deleted[n]))
		if g := un.Gone[n]; g > 0 {
			line += fmt.Sprintf(" (%s were deleted by someone else since)", cluster.Thousands(g))
		}
		if c := un.ChangedSince[n]; c > 0 {
			line += fmt.Sprintf(", %s of them had been changed since the undelete", cluster.Thousands(c))
		}
		lines = append(lines, line)
	}
	_, err = tickets.RecordUndeleteRollback(ctx, w.d.Pool, t.ID, fmt.Sprintf("The undelete into %s is rolled back: %s. No other row was touched.",
		rec.LiveDatabase, joinLines(lines)))
	return err
}
