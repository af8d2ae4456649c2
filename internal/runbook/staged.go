package runbook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/compare"
	"github.com/restoreportal/portal/internal/tickets"
)

// Staged review (tickets/preview_staged.go) in the worker: a destructive
// tables restore with Options.StagedReview, once its copy is verified,
// compares every table with live, records the review and pauses: its job
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
	return r.t.Options.StagedReview && r.t.Mode == tickets.ModeDestructive && r.t.Scope.Kind == tickets.ScopeTables
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
		if err != nil {
			return rec, false, err
		}
		if rec.State != tickets.RecordMade {
			return rec, false, fmt.Errorf("the reviewed copy %s is no longer there (%s); nothing was changed", staging, rec.State)
		}
		r.log.Info("cut-over confirmed after staged review; continuing from the verified copy", "by", rv.DecidedByName)
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

// stagedPause, on a restore under staged review, compares each table of the
// verified copy (sc) with live (lc), both as the project's owner, records
// the review and reports that the attempt pauses.
func (r *restoreRun) stagedPause(ctx context.Context, lc, sc *pgx.Conn, tables []cluster.Table, staging string) (bool, error) {
	if !r.stagedReviewOn() {
		return false, nil
	}
	r.setPhase("compare", "comparing the restored copy with live, row by row")
	results := make([]compare.Result, 0, len(tables))
	for _, t := range tables {
		res, err := compare.Table(ctx, lc, sc, t.Schema, t.Name, compare.Options{})
		if err != nil {
			return false, fmt.Errorf("compare %s: %w", t, err)
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
