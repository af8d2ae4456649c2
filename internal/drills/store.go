package drills

import (
	"context"
	"errors"
	"fmt"
	"github.com/restoreportal/portal/internal/dbx"
	"time"

	"github.com/jackc/pgx/v5"
)

// DB is a pool, a connection or a transaction.
type DB = dbx.DBTX

// ErrNotFound is returned for a drill or alarm that does not exist.
var ErrNotFound = dbx.NotFound("not found")

// Outcome is how a drill ended.
type Outcome string

const (
	OutcomeRunning Outcome = "running"
	OutcomePassed  Outcome = "passed"
	OutcomeFailed  Outcome = "failed"
	// OutcomeYielded: a real restore of the project (or on the drill's
	// cluster) started; the drill stopped, dropped its copy and retries later.
	OutcomeYielded Outcome = "yielded"
)

// Scratch states of a drill's database.
const (
	ScratchNone    = "none"
	ScratchPlanned = "planned"
	ScratchMade    = "made"
	ScratchDropped = "dropped"
)

// Drill is one drill attempt.
type Drill struct {
	ID              int64      `json:"id"`
	ProjectRef      string     `json:"project_ref"`
	SnapshotID      *int64     `json:"snapshot_id"`
	SnapshotAt      *time.Time `json:"snapshot_at"`
	Trigger         string     `json:"trigger"`
	JobID           int64      `json:"job_id,omitempty"`
	Cluster         string     `json:"cluster"`
	ScratchDatabase string     `json:"scratch_database,omitempty"`
	ScratchState    string     `json:"scratch_state"`
	Outcome         Outcome    `json:"outcome"`
	Reason          string     `json:"reason,omitempty"`
	Notes           []string   `json:"notes"`
	StartedAt       time.Time  `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	// RecoveryMS is the time to a restored, row-checked copy: the project's
	// measured recovery time for a full restore.
	RecoveryMS     *int64 `json:"recovery_ms"`
	DurationMS     *int64 `json:"duration_ms"`
	Bytes          int64  `json:"bytes"`
	TablesChecked  int    `json:"tables_checked"`
	RowsChecked    int64  `json:"rows_checked"`
	IndexesChecked int    `json:"indexes_checked"`
	FKsChecked     int    `json:"fks_checked"`
	// Phases is where the drill's time went, in order.
	Phases []Phase `json:"phases"`
}

// Phase is one part of a drill and how long it took.
type Phase struct {
	Name string `json:"name"`
	MS   int64  `json:"ms"`
	// Detail says how the phase ran, where that varies: the amcheck phase's
	// PORTAL_DRILL_HEAP_CHECK mode and how many indexes it heap-checked.
	Detail string `json:"detail,omitempty"`
}

// The phases of a drill, in order.
const (
	PhasePrepare     = "prepare"      // the owner role found, the object prechecked, the name recorded
	PhaseCreate      = "create"       // the scratch database and its login role
	PhaseRestore     = "restore"      // the restore engine's apply, COPY row counts checked
	PhaseSideEffects = "side_effects" // subscriptions, pg_cron, HTTP hooks disabled
	PhaseChecks      = "checks"       // counts, amcheck and foreign keys, in parallel
	PhaseCounts      = "counts"       // of which: the row counts (summed over connections)
	PhaseAmcheck     = "amcheck"      // of which: bt_index_check (summed over connections)
	PhaseForeignKeys = "foreign_keys" // of which: foreign keys (summed over connections)
	PhaseDrop        = "drop"         // the scratch database dropped
)

// Recovery is RecoveryMS as a duration (0 when unknown).
func (d Drill) Recovery() time.Duration {
	if d.RecoveryMS == nil {
		return 0
	}
	return time.Duration(*d.RecoveryMS) * time.Millisecond
}

const drillCols = `id, project_ref, snapshot_id, snapshot_at, trigger, coalesce(job_id, 0), cluster, scratch_database, scratch_state,
	outcome, reason, notes, started_at, finished_at, recovery_ms, duration_ms, bytes, tables_checked, rows_checked,
	indexes_checked, fks_checked, phases`

func scanDrill(r pgx.CollectableRow) (Drill, error) {
	var d Drill
	err := r.Scan(&d.ID, &d.ProjectRef, &d.SnapshotID, &d.SnapshotAt, &d.Trigger, &d.JobID, &d.Cluster, &d.ScratchDatabase,
		&d.ScratchState, &d.Outcome, &d.Reason, &d.Notes, &d.StartedAt, &d.FinishedAt, &d.RecoveryMS, &d.DurationMS,
		&d.Bytes, &d.TablesChecked, &d.RowsChecked, &d.IndexesChecked, &d.FKsChecked, &d.Phases)
	return d, err
}

func collectDrills(rows pgx.Rows, err error) ([]Drill, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanDrill)
}

// NewDrill is what a drill attempt records when it starts.
type NewDrill struct {
	ProjectRef string
	SnapshotID int64
	SnapshotAt time.Time
	Manual     bool
	JobID      int64
	Cluster    string
}

// DrillStart records a running drill.
func DrillStart(ctx context.Context, db DB, n NewDrill) (Drill, error) {
	trigger := "schedule"
	if n.Manual {
		trigger = "manual"
	}
	var at *time.Time
	if !n.SnapshotAt.IsZero() {
		at = &n.SnapshotAt
	}
	rows, err := db.Query(ctx, `INSERT INTO drills (project_ref, snapshot_id, snapshot_at, trigger, job_id, cluster)
		VALUES ($1, nullif($2, 0), $3, $4, nullif($5, 0), $6) RETURNING `+drillCols, n.ProjectRef, n.SnapshotID, at, trigger, n.JobID, n.Cluster)
	if err != nil {
		return Drill{}, fmt.Errorf("record drill of %s: %w", n.ProjectRef, err)
	}
	return pgx.CollectExactlyOneRow(rows, scanDrill)
}

// DrillGet returns drill id.
func DrillGet(ctx context.Context, db DB, id int64) (Drill, error) {
	return getByID(ctx, db, `SELECT `+drillCols+` FROM drills WHERE id = $1`, id, scanDrill, "drill")
}

// getByID returns the one row query selects with id as $1, scanned by scan;
// no such row is ErrNotFound ("what id: not found").
func getByID[T any](ctx context.Context, db DB, query string, id int64, scan pgx.RowToFunc[T], what string) (T, error) {
	var zero T
	rows, err := db.Query(ctx, query, id)
	if err != nil {
		return zero, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, fmt.Errorf("%s %d: %w", what, id, ErrNotFound)
	}
	return v, err
}

// DrillScratchPlan records the scratch database before it is created; a name
// another drill's record holds live is refused by the unique index.
func DrillScratchPlan(ctx context.Context, db DB, id int64, name string) error {
	_, err := db.Exec(ctx, `UPDATE drills SET scratch_database = $2, scratch_state = 'planned' WHERE id = $1`, id, name)
	if err != nil {
		return fmt.Errorf("record scratch database %s of drill %d: %w", name, id, err)
	}
	return nil
}

// DrillScratchSet moves the scratch database's record to state.
func DrillScratchSet(ctx context.Context, db DB, id int64, state string) error {
	_, err := db.Exec(ctx, `UPDATE drills SET scratch_state = $2 WHERE id = $1`, id, state)
	return err
}

// Result is what a finished drill records.
type Result struct {
	Outcome        Outcome
	Reason         string
	Notes          []string
	Recovery       time.Duration
	Duration       time.Duration
	Bytes          int64
	TablesChecked  int
	RowsChecked    int64
	IndexesChecked int
	FKsChecked     int
	Phases         []Phase
}

// DrillFinish records the drill's end.
func DrillFinish(ctx context.Context, db DB, id int64, r Result) (Drill, error) {
	if r.Notes == nil {
		r.Notes = []string{}
	}
	if r.Phases == nil {
		r.Phases = []Phase{}
	}
	var rec *int64
	if r.Recovery > 0 {
		ms := r.Recovery.Milliseconds()
		rec = &ms
	}
	rows, err := db.Query(ctx, `UPDATE drills SET outcome = $2, reason = $3, notes = $4, finished_at = now(), recovery_ms = $5,
		duration_ms = $6, bytes = $7, tables_checked = $8, rows_checked = $9, indexes_checked = $10, fks_checked = $11,
		phases = $12 WHERE id = $1 RETURNING `+drillCols, id, r.Outcome, r.Reason, r.Notes, rec, r.Duration.Milliseconds(), r.Bytes,
		r.TablesChecked, r.RowsChecked, r.IndexesChecked, r.FKsChecked, r.Phases)
	if err != nil {
		return Drill{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanDrill)
}

// DrillListByProject returns ref's drills, newest first, at most limit.
func DrillListByProject(ctx context.Context, db DB, ref string, limit int) ([]Drill, error) {
	return collectDrills(db.Query(ctx, `SELECT `+drillCols+` FROM drills WHERE project_ref = $1 ORDER BY started_at DESC, id DESC LIMIT $2`, ref, limit))
}

// ListParams filters DrillList.
type ListParams struct {
	Ref     string // empty: every project
	Outcome Outcome
	Since   time.Time
	Until   time.Time
	Limit   int
}

// DrillList returns drills newest first.
func DrillList(ctx context.Context, db DB, p ListParams) ([]Drill, error) {
	if p.Limit <= 0 || p.Limit > 1000 {
		p.Limit = 100
	}
	var since, until *time.Time
	if !p.Since.IsZero() {
		since = &p.Since
	}
	if !p.Until.IsZero() {
		until = &p.Until
	}
	return collectDrills(db.Query(ctx, `SELECT `+drillCols+` FROM drills
		WHERE ($1 = '' OR project_ref = $1) AND ($2 = '' OR outcome = $2)
		  AND ($3::timestamptz IS NULL OR started_at >= $3) AND ($4::timestamptz IS NULL OR started_at < $4)
		ORDER BY started_at DESC, id DESC LIMIT $5`, p.Ref, string(p.Outcome), since, until, p.Limit))
}

// DrillsStale returns the drills of ref other than keep whose scratch
// database is recorded as planned or made and whose attempt is over: ended,
// or still "running" under a job that no longer runs or is jobID itself (an
// earlier attempt of the running job, whose worker died). Such leftovers are
// recorded as the drills', so they may be dropped.
func DrillsStale(ctx context.Context, db DB, ref string, keep, jobID int64) ([]Drill, error) {
	return collectDrills(db.Query(ctx, `SELECT `+drillCols+` FROM drills
		WHERE project_ref = $1 AND id <> $2 AND scratch_state IN ('planned', 'made')
		  AND (outcome <> 'running' OR job_id IS NULL OR job_id = $3 OR NOT EXISTS (
		      SELECT 1 FROM river_job j WHERE j.id = drills.job_id AND j.state = 'running'))`, ref, keep, jobID))
}

// DrillAbandon marks a drill that never finished (its worker died) as failed.
func DrillAbandon(ctx context.Context, db DB, id int64, reason string) error {
	_, err := db.Exec(ctx, `UPDATE drills SET outcome = 'failed', reason = $2, finished_at = coalesce(finished_at, now())
		WHERE id = $1 AND outcome = 'running'`, id, reason)
	return err
}

// Proof is a project's standing: its last passed drill and whether its newest
// verified snapshot is overdue for one.
type Proof struct {
	ProjectRef string `json:"project_ref"`
	// ProvenAt is the point in time of the snapshot the last passed drill
	// restored ("last proven restorable").
	ProvenAt   *time.Time `json:"proven_at"`
	DrilledAt  *time.Time `json:"drilled_at"`
	RecoveryMS *int64     `json:"recovery_ms"`
	// LastOutcome is the newest finished drill's outcome.
	LastOutcome Outcome `json:"last_outcome,omitempty"`
	// Overdue: the project has had a verified snapshot for twice the cadence
	// and no drill passed in that time, so its newest snapshot is unproven.
	Overdue bool `json:"overdue"`
}

// Recovery is RecoveryMS as a duration (0 when unknown).
func (p Proof) Recovery() time.Duration {
	if p.RecoveryMS == nil {
		return 0
	}
	return time.Duration(*p.RecoveryMS) * time.Millisecond
}

// ProofsOf returns the Proof of each of refs (absent: never drilled and not
// overdue, such as a project with no verified snapshot). A project is
// overdue when it had a verified snapshot more than twice every ago and no
// drill passed since then.
func ProofsOf(ctx context.Context, db DB, refs []string, every time.Duration, now time.Time) (map[string]Proof, error) {
	rows, err := db.Query(ctx, `
		SELECT r.ref, p.snapshot_at, p.started_at, p.recovery_ms, l.outcome,
		       (EXISTS (SELECT 1 FROM snapshots s WHERE s.project_ref = r.ref AND s.status = 'verified'
		            AND s.deleted_at IS NULL AND coalesce(s.verified_at, s.first_seen) < $2)
		        AND NOT EXISTS (SELECT 1 FROM drills d WHERE d.project_ref = r.ref AND d.outcome = 'passed' AND d.started_at >= $2))
		FROM unnest($1::text[]) AS r(ref)
		LEFT JOIN LATERAL (SELECT snapshot_at, started_at, recovery_ms FROM drills d
		    WHERE d.project_ref = r.ref AND d.outcome = 'passed' ORDER BY d.started_at DESC LIMIT 1) p ON true
		LEFT JOIN LATERAL (SELECT outcome FROM drills d
		    WHERE d.project_ref = r.ref AND d.outcome IN ('passed', 'failed') ORDER BY d.started_at DESC LIMIT 1) l ON true`,
		refs, now.Add(-2*every))
	if err != nil {
		return nil, err
	}
	return dbx.CollectMap(rows, func(r pgx.CollectableRow) (string, Proof, error) {
		var p Proof
		var last *string
		if err := r.Scan(&p.ProjectRef, &p.ProvenAt, &p.DrilledAt, &p.RecoveryMS, &last, &p.Overdue); err != nil {
			return "", p, err
		}
		if last != nil {
			p.LastOutcome = Outcome(*last)
		}
		return p.ProjectRef, p, nil
	})
}

// projectLastDrill is a project with a verified snapshot and the start of its
// newest drill (nil: never drilled).
type projectLastDrill struct {
	ref  string
	last *time.Time
}

// drillLastByProject lists the projects with a verified snapshot, by ref, each
// with the start of its newest drill.
func drillLastByProject(ctx context.Context, db DB) ([]projectLastDrill, error) {
	rows, err := db.Query(ctx, `SELECT p.ref, (SELECT max(started_at) FROM drills d WHERE d.project_ref = p.ref)
		FROM projects p
		WHERE EXISTS (SELECT 1 FROM snapshots s WHERE s.project_ref = p.ref AND s.status = 'verified' AND s.deleted_at IS NULL)
		ORDER BY p.ref`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (projectLastDrill, error) {
		var p projectLastDrill
		return p, r.Scan(&p.ref, &p.last)
	})
}
