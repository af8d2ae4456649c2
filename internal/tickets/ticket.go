package tickets

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/dbx"
)

// Source is where a ticket came from.
type Source string

const (
	SourceEmail  Source = "email"
	SourcePortal Source = "portal"
	SourceAPI    Source = "api"
)

// Mode is how a restore lands.
type Mode string

const (
	// ModeDestructive overwrites the live project (after a verified copy is
	// complete; the old state is kept for rollback).
	ModeDestructive Mode = "destructive"
	// ModeNewProject restores into a fresh database next to the live one.
	ModeNewProject Mode = "new_project"
)

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.TrimSpace(s)); m {
	case ModeDestructive, ModeNewProject, ModeUndelete:
		return m, nil
	}
	return "", &ValidationError{Field: "mode", Msg: fmt.Sprintf("%q is not destructive, new_project or undelete", s)}
}

// ScopeKind says whether a restore covers the whole database or some tables.
type ScopeKind string

const (
	ScopeFull   ScopeKind = "full"
	ScopeTables ScopeKind = "tables"
)

// Scope is what a restore covers. Tables are "schema.table" names, checked
// against the snapshot's inventory before a restore can be prepared.
type Scope struct {
	Kind   ScopeKind `json:"kind"`
	Tables []string  `json:"tables,omitempty"`
}

// Options are the less common choices of a restore.
type Options struct {
	// TargetRef names the new project of a new_project restore; empty means
	// "<project>-r<ticket id>" (cluster.DefaultTargetRef: shortened with a
	// hash where that would pass 63 characters).
	TargetRef string `json:"target_ref,omitempty"`
	// KeepDays is how long the replaced state is kept for rollback; 0 means
	// the worker's PORTAL_KEEP_FOR.
	KeepDays int `json:"keep_days,omitempty"`
	// AllowDangling lets a destructive tables restore proceed although rows
	// of other tables would point at rows that are no longer there (the
	// restore lists them); by default it fails with the list.
	AllowDangling bool `json:"allow_dangling,omitempty"`
	// Undelete narrows an undelete (ModeUndelete) to listed keys or a
	// filter; nil merges every missing row of the scope's tables.
	Undelete UndeleteLimit `json:"undelete,omitzero"`
	// StagedReview pauses a destructive tables restore after its copy is
	// verified, with a row-level comparison against live, until an approver
	// confirms the cut-over (preview_staged.go). The ticket form offers it
	// checked for tables scope.
	StagedReview bool `json:"staged_review,omitempty"`
	// StagedReviewFull pauses a destructive full restore the same way after
	// its verified copy, comparing every table (runbook/staged.go); off
	// unless asked for (the triage form's box is unchecked by default).
	StagedReviewFull bool `json:"staged_review_full,omitempty"`
}

// Ticket is one restore request and its life.
type Ticket struct {
	ID             int64
	Source         Source
	Subject        string
	RequesterEmail string
	RequesterName  string
	ProjectRef     string
	RequestedAt    *time.Time
	RequestedTZ    string
	SnapshotID     int64 // 0: none chosen yet
	Scope          Scope
	Mode           Mode
	Options        Options
	State          State
	AssigneeID     int64
	CreatedBy      int64
	PreparedBy     int64
	ApprovedBy     int64
	PreparedByName string // email of PreparedBy
	ApprovedByName string
	AssigneeName   string
	JobID          int64
	RollbackJobID  int64
	Progress       *Progress
	Result         *Result
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Destructive says whether the restore writes the live project (a
// destructive restore, or an undelete merging rows into it): such a restore
// needs an approver who types the project ref.
func (t Ticket) Destructive() bool { return t.Mode == ModeDestructive || t.Mode == ModeUndelete }

// TargetRef is the project a new_project restore creates.
func (t Ticket) TargetRef() string {
	if t.Options.TargetRef != "" {
		return t.Options.TargetRef
	}
	return cluster.DefaultTargetRef(t.ProjectRef, t.ID)
}

// Progress is what a running restore reports, written by the worker with
// UpdateProgress and shown live on the dashboard and the ticket.
type Progress struct {
	Phase        string    `json:"phase"` // e.g. download, schema, data, indexes, verify, swap, done
	Percent      float64   `json:"percent"`
	CurrentTable string    `json:"current_table,omitempty"`
	TablesDone   int       `json:"tables_done,omitempty"`
	TablesTotal  int       `json:"tables_total,omitempty"`
	Rows         int64     `json:"rows,omitempty"`
	Bytes        int64     `json:"bytes,omitempty"`
	BytesTotal   int64     `json:"bytes_total,omitempty"`
	Message      string    `json:"message,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Result is how a restore ended, written by the worker with Finish.
type Result struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"` // a sentence a person can act on, especially on failure
	// TargetDatabase is the database now holding the restored data.
	TargetDatabase string `json:"target_database,omitempty"`
	// KeptDatabase is the replaced live database, renamed and kept until
	// KeptUntil for rollback (destructive full restores).
	KeptDatabase string `json:"kept_database,omitempty"`
	// KeptTables maps each replaced table to its copy (destructive table
	// restores), for rollback.
	KeptTables map[string]string `json:"kept_tables,omitempty"`
	KeptUntil  *time.Time        `json:"kept_until,omitempty"`
	// RowCounts are the verified rows per restored table.
	RowCounts map[string]int64 `json:"row_counts,omitempty"`
	Warnings  []string         `json:"warnings,omitempty"`
	// DisabledSideEffects lists what was turned off in a copy so it does not
	// act on its own (pg_cron jobs, pg_net hooks, subscriptions).
	DisabledSideEffects []string  `json:"disabled_side_effects,omitempty"`
	FinishedAt          time.Time `json:"finished_at"`
	// RolledBackAt is set by FinishRollback.
	RolledBackAt *time.Time `json:"rolled_back_at,omitempty"`
	// RollbackError is the reason of a failed rollback.
	RollbackError string `json:"rollback_error,omitempty"`
	// RollbackKept names where a rollback kept what was written since the
	// restore (a database, or tables in one), until RollbackKeptUntil;
	// RollbackSummary says how much that is.
	RollbackKept      string     `json:"rollback_kept,omitempty"`
	RollbackKeptUntil *time.Time `json:"rollback_kept_until,omitempty"`
	RollbackSummary   string     `json:"rollback_summary,omitempty"`
	// Undelete reports an undelete, per table in the order merged: rows
	// inserted, conflicts (with sample keys), unchanged rows.
	Undelete []UndeleteTable `json:"undelete,omitempty"`
	// Steps is how long the restore's last attempt spent in each step
	// (precheck, safety snapshot, prepare, apply, verify, cut-over,
	// follow-ups), in order.
	Steps []StepTiming `json:"steps,omitempty"`
}

// StepTiming is the duration of one step of a restore.
type StepTiming struct {
	Step    string  `json:"step"`
	Seconds float64 `json:"seconds"`
}

// Rollbackable says whether the result kept something a rollback can put back.
func (r *Result) Rollbackable(now time.Time) bool {
	if r == nil || !r.OK || r.RolledBackAt != nil {
		return false
	}
	if r.KeptUntil != nil && now.After(*r.KeptUntil) {
		return false
	}
	return r.KeptDatabase != "" || len(r.KeptTables) > 0 || r.TargetDatabase != ""
}

// Actor is who acts on a ticket: a staff user with a role, or a part of the
// portal (intake, worker) with no role and no user id.
type Actor struct {
	UserID  int64
	Email   string
	Role    auth.Role
	Address string
}

// SystemActor is a part of the portal acting on its own.
func SystemActor(name string) Actor { return Actor{Email: name} }

// UserActor is a staff user acting through a page or the API.
func UserActor(u auth.User, address string) Actor {
	return Actor{UserID: u.ID, Email: u.Email, Role: u.Role, Address: address}
}

func (a Actor) audit() audit.Actor {
	return audit.Actor{ID: a.UserID, Name: a.Email, Address: a.Address}
}

func (a Actor) require(min auth.Role, what string) error {
	if a.UserID == 0 || !a.Role.AtLeast(min) {
		return &PermissionError{Msg: fmt.Sprintf("%s needs the %s role", what, min)}
	}
	return nil
}

var (
	// ErrNotFound is returned when a ticket does not exist.
	ErrNotFound = dbx.NotFound("ticket not found")
	// ErrConflict is returned when the ticket changed under the caller.
	ErrConflict = errors.New("the ticket changed meanwhile; reload and try again")
	// ErrDuplicateMessage is returned by AddEntry for a message id already in a thread.
	ErrDuplicateMessage = errors.New("message already in a thread")
	// ErrRestoreInProgress is returned when a project already has a restore queued or running.
	ErrRestoreInProgress = errors.New("this project already has a restore queued or running; wait for it to end")
)

// ValidationError names the field a person has to correct. It is auth's
// type, so one errors.As finds a refused field of either package.
type ValidationError = auth.ValidationError

// PermissionError says what the actor may not do and why.
type PermissionError struct{ Msg string }

func (e *PermissionError) Error() string { return e.Msg }

var projectRef = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// tableName is "schema.table" with plain identifiers, or quoted parts.
var tableName = regexp.MustCompile(`^("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)\.("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)$`)
