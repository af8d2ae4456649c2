package runbook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/tickets"
)

// Staged review (tickets/preview_staged.go) in the worker: a destructive
// tables restore or an undelete with Options.StagedReview, once its copy is
// verified, compares every table with live (an undelete: only the snapshot
// rows its limit names, which gives its exact dry run: rows it would insert,
// conflicts, identical rows), records the review and pauses: its job
// snoozes (the ticket stays running, so the project takes no other restore)
// and keeps the staging database. Each time it wakes (every stagedPoll, or
// at once when someone decides), tablesDestructive asks stagedResume first:
// still awaiting, it snoozes again before any work; confirmed, it continues
// from the recorded, verified copy to the swap; abandoned or expired, it
// drops the copy and ends the ticket without touching live.

// stagedPoll is how often a paused restore looks at its review.
const stagedPoll = 10 * time.Second

// errAwaitingCutover ends an attempt that paused for its staged review.
var errAwaitingCutover = errors.New("the restored copy awaits its staged review")

// errReviewEnded ends a restore whose cut-over was abandoned or expired.
type errReviewEnded struct{ msg string }

func (e errReviewEnded) Error() string { return e.msg }

// StagedPoll is how often a restore paused for its staged review looks at
// the review again (the worker snoozes that long).
const StagedPoll = stagedPoll

// ErrAwaitingCutover ends an attempt that paused for its staged review: run
// it again after StagedPoll.
var ErrAwaitingCutover = errAwaitingCutover

// IsReviewEnded tells whether err ended a restore whose staged cut-over was
// abandoned or expired (its copy dropped, live untouched).
func IsReviewEnded(err error) bool { return errors.As(err, new(errReviewEnded)) }

func (r *restoreRun) stagedReviewOn() bool {
	if r.t.Scope.Kind == tickets.ScopeFull {
		return r.t.Options.StagedReviewFull && r.t.Mode == tickets.ModeDestructive
	}
	return r.t.Options.StagedReview && r.t.Scope.Kind == tickets.ScopeTables &&
		(r.t.Mode == tickets.ModeDestructive || r.t.Mode == tickets.ModeUndelete)
}

// keepReviewedCopy tells an attempt that continued from a confirmed review's
// copy (resumed) and ends with err before its cut-over to keep the copy: the
// worker retries the same confirmed attempt after a Postgres fault, or after
// a shutdown or a lost project lock, and the retry goes on from the copy
// (stagedResume) instead of failing closed for want of it. A cancel, an
// abandon, a permanent error (the ticket fails) and an error after the
// cut-over drop it as before; so does the worker when it gives the retries
// up (DropReviewedCopy).
func (r *restoreRun) keepReviewedCopy(ctx context.Context, resumed bool, err error) bool {
	switch {
	case !resumed || err == nil || IsAfterCutover(err):
		return false
	case errors.Is(context.Cause(ctx), errTicketCancelled):
		return false
	case ctx.Err() != nil:
		return true
	}
	return r.transient(ctx, err)
}

// DropReviewedCopy drops the staging copy a confirmed staged review kept for
// a retry (keepReviewedCopy), when ticket t fails for good; a ticket without
// a review has none left and nothing is done.
func DropReviewedCopy(ctx context.Context, d Deps, t tickets.Ticket, log *slog.Logger) error {
	if _, err := tickets.StagedReviewGet(ctx, d.Pool, t.ID); errors.Is(err, tickets.ErrNoStagedReview) {
		return nil
	} else if err != nil {
		return err
	}
	return DropCancelledStaging(ctx, d, t, nil, log)
}

// stagedResume reads the ticket's review before anything is done: resumed
// is true, with the recorded staging database, when the cut-over was
// confirmed. Awaiting, it returns errAwaitingCutover; abandoned or expired,
// it drops the copy and returns errReviewEnded.
func (r *restoreRun) stagedResume(ctx context.Context, own recorder, staging string) (tickets.DatabaseRecord, bool, error) {
	if !r.stagedReviewOn() {
		return tickets.DatabaseRecord{}, false, nil
	}
	rv, err := tickets.StagedReviewGet(ctx, r.d.Pool, r.t.ID)
	if errors.Is(err, tickets.ErrNoStagedReview) {
		return tickets.DatabaseRecord{}, false, nil
	}
	if err != nil {
		return tickets.DatabaseRecord{}, false, err
	}
	if rv.StagingDatabase != staging {
		return tickets.DatabaseRecord{}, false, fmt.Errorf("the staged review names %s, not %s; refusing to continue", rv.StagingDatabase, staging)
	}
	if rv.Expired(time.Now()) {
		if _, err := tickets.StagedReviewExpire(ctx, r.d.Pool, r.t.ID); err != nil {
			return tickets.DatabaseRecord{}, false, err
		}
		rv.State = tickets.ReviewExpired
	}
	switch rv.State {
	case tickets.ReviewAwaiting:
		r.setPhase(tickets.PhaseAwaitingCutover, reviewWaiting(rv))
		if err := r.flushProgress(ctx); err != nil {
			return tickets.DatabaseRecord{}, false, err
		}
		return tickets.DatabaseRecord{}, false, errAwaitingCutover
	case tickets.ReviewConfirmed:
		rec, err := own.mine(ctx, staging, "", tickets.PurposeStaging)
		if errors.Is(err, tickets.ErrNotRecorded) {
			return rec, false, fmt.Errorf("the reviewed copy %s is no longer there (dropped); nothing was changed: %w", staging, err)
		}
		if err != nil {
			return rec, false, err
		}
		if rec.State != tickets.RecordMade {
			return rec, false, fmt.Errorf("the reviewed copy %s is no longer there (%s); nothing was changed", staging, rec.State)
		}
		r.log.Info("cut-over confirmed after staged review; continuing from the verified copy", "by", rv.DecidedByName)
		// Leave the paused phase at once: a retry of this attempt is not a
		// deliberate pause (the worker words its log by the phase).
		r.setPhase("verify", "cut-over confirmed by "+rv.DecidedByName+"; continuing from the verified copy "+staging)
		if err := r.flushProgress(ctx); err != nil {
			return rec, false, err
		}
		return rec, true, nil
	}
	msg := fmt.Sprintf("The staged review's pause expired at %s without a confirmation", rv.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	if rv.State == tickets.ReviewAbandoned {
		msg = "The cut-over was abandoned after the staged review by " + rv.DecidedByName
	}
	msg += fmt.Sprintf(": the restored copy %s was dropped and the live tables were not changed.", staging)
	if rec, err := own.mine(ctx, staging, "", tickets.PurposeStaging); err == nil && rec.State == tickets.RecordMade {
		if err := own.drop(ctx, rec); err != nil {
			return rec, false, err
		}
	}
	return tickets.DatabaseRecord{}, false, errReviewEnded{msg}
}

func reviewWaiting(rv tickets.StagedReview) string {
	return fmt.Sprintf("the restored copy %s is verified; waiting until %s for an approver to confirm the cut-over after the row comparison",
		rv.StagingDatabase, rv.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
}

// stagedPauseFull is stagedPause for a full restore: every table of the
// verified copy staging against live, both read as the project's owner.
func (r *restoreRun) stagedPauseFull(ctx context.Context, cl *cluster.Cluster, live, staging string) (bool, error) {
	if !r.stagedReviewOn() {
		return false, nil
	}
	sc, closeSC, err := ownerSession(ctx, cl, staging, r.log)
	if err != nil {
		return false, err
	}
	defer closeSC()
	lc, closeLC, err := ownerSession(ctx, cl, live, r.log)
	if err != nil {
		return false, err
	}
	defer closeLC()
	return r.stagedPause(ctx, lc, sc, nil, staging, nil)
}

// undeleteLimits are the comparison limits of an undelete's tables (nil for
// a table merged whole), keyed by "schema.table"; nil for other modes.
func (r *restoreRun) undeleteLimits(tables []cluster.MergeTable) map[string]*compare.Limit {
	if r.t.Mode != tickets.ModeUndelete {
		return nil
	}
	out := map[string]*compare.Limit{}
	for _, t := range tables {
		switch {
		case len(t.Keys) > 0:
			out[t.Table.String()] = &compare.Limit{Keys: t.Keys}
		case t.Filter != nil:
			out[t.Table.String()] = &compare.Limit{Column: t.Filter.Column, Op: t.Filter.Op, Value: t.Filter.Value}
		}
	}
	return out
}

// checkUndeletePlan refuses, at the dry run, what the merge would refuse: a
// table it cannot tell missing rows of (no primary key, or not the same one
// live and in the snapshot), or missing on a side.
func checkUndeletePlan(res compare.Result) error {
	switch {
	case res.MissingLive || res.MissingSnapshot:
		return fmt.Errorf("table %s is missing live or in the snapshot: an undelete merges into an existing table; nothing was changed", res.Table)
	case res.WholeRow:
		return fmt.Errorf("table %s has no primary key (or not the same one live and in the snapshot: %s): an undelete tells missing rows by their key, so it cannot merge this table; nothing was changed",
			res.Table, strings.Join(res.Schema, "; "))
	}
	return nil
}

// reviewedVersusMerged words, for an undelete that ran after its staged
// review, where the merge's real counts differ from the dry run's (live
// moved in between); "" when they agree or there was no review.
func reviewedVersusMerged(rv []compare.Result, merged []tickets.UndeleteTable) string {
	byName := map[string]compare.Result{}
	for _, t := range rv {
		byName[t.Table] = t
	}
	var lines []string
	for _, m := range merged {
		t, ok := byName[m.Table]
		if !ok {
			continue
		}
		if t.OnlySnapshot.Count != m.Inserted+m.OtherKey || t.Differ.Count != m.Conflicts || t.Same != m.Unchanged {
			lines = append(lines, fmt.Sprintf("%s: reviewed %s to insert, %s conflicts, %s identical; merged %s inserted, %s conflicts, %s identical",
				m.Table, cluster.Thousands(t.OnlySnapshot.Count), cluster.Thousands(t.Differ.Count), cluster.Thousands(t.Same),
				cluster.Thousands(m.Inserted+m.OtherKey), cluster.Thousands(m.Conflicts), cluster.Thousands(m.Unchanged)))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return " Live changed between the staged review and the merge, so the counts differ: " + joinLines(lines) + "."
}

// withReviewNote appends to an undelete's result, when it ran after a staged
// review, how the merge's counts compare with the reviewed ones.
func (r *restoreRun) withReviewNote(ctx context.Context, out tickets.Result) tickets.Result {
	if !r.stagedReviewOn() {
		return out
	}
	rv, err := tickets.StagedReviewGet(ctx, r.d.Pool, r.t.ID)
	if err != nil {
		return out
	}
	if note := reviewedVersusMerged(rv.Tables, out.Undelete); note != "" {
		out.Message += note
	} else {
		out.Message += " The merge's counts are those of the staged review."
	}
	return out
}

// stagedPause, on a restore under staged review, compares each table of the
// verified copy (sc) with live (lc), both as the project's owner, records
// the review and reports that the attempt pauses. limits narrow an
// undelete's tables to the rows its limit names (undeleteLimits); only
// reading happens on live.
func (r *restoreRun) stagedPause(ctx context.Context, lc, sc *pgx.Conn, tables []cluster.Table, staging string, limits map[string]*compare.Limit) (bool, error) {
	if !r.stagedReviewOn() {
		return false, nil
	}
	undelete := r.t.Mode == tickets.ModeUndelete
	if undelete {
		r.setPhase("compare", "computing the undelete's exact dry run: the restored copy against live, row by row")
	} else {
		r.setPhase("compare", "comparing the restored copy with live, row by row")
	}
	results := make([]compare.Result, 0, len(tables))
	if r.t.Scope.Kind == tickets.ScopeFull {
		var err error
		if results, err = compare.Database(ctx, lc, sc, compare.Options{}); err != nil {
			return false, err
		}
	}
	for _, t := range tables {
		res, err := compare.Table(ctx, lc, sc, t.Schema, t.Name, compare.Options{Limit: limits[t.String()]})
		if err != nil {
			return false, fmt.Errorf("compare %s: %w", t, err)
		}
		if undelete {
			if err := checkUndeletePlan(res); err != nil {
				return false, err
			}
		}
		results = append(results, res)
	}
	snap, err := tickets.SnapshotCatalog(r.d.Pool).SnapshotGet(ctx, r.t.SnapshotID)
	if err != nil {
		return false, err
	}
	ttl := r.d.Config.StagedReviewTTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	rv, err := tickets.StagedReviewRecord(ctx, r.d.Pool, tickets.StagedReview{TicketID: r.t.ID, JobID: r.t.JobID, StagingDatabase: staging,
		PlanDigest: tickets.PlanOf(r.t, snap).Digest(), Tables: results}, ttl)
	if err != nil {
		return false, err
	}
	var lines []string
	for _, res := range results {
		if undelete {
			lines = append(lines, fmt.Sprintf("%s: %d to insert, %d conflicts, %d identical", res.Table,
				res.OnlySnapshot.Count, res.Differ.Count, res.Same))
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: %d only live, %d only in the snapshot, %d differ", res.Table,
			res.OnlyLive.Count, res.OnlySnapshot.Count, res.Differ.Count))
	}
	r.log.Info("restore paused for staged review", "comparison", strings.Join(lines, "; "))
	r.setPhase(tickets.PhaseAwaitingCutover, reviewWaiting(rv))
	if err := r.flushProgress(ctx); err != nil {
		return false, err // cancelled meanwhile: the copy is dropped
	}
	return true, nil
}
