package tickets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// An approval approves one plan: the exact restore a person looked at. The
// plan's digest goes into the approval form and the API call; an approval
// whose digest is not the current plan's is refused (ErrPlanChanged), and
// nobody who prepared or submitted any version of a ticket's plan may approve
// it (ticket_plans keeps every version and its author).

// PlanVersion is the encoding version of Plan, part of every digest.
const PlanVersion = 1

// DefaultApprovalTTL is how long a submitted plan waits for an approval
// before it lapses (PORTAL_APPROVAL_TTL).
const DefaultApprovalTTL = 24 * time.Hour

// Plan is everything a restore's approval vouches for. Its JSON encoding,
// with the fields in this order and the tables sorted, is the canonical form
// the digest is taken of: add a field here and it is in the digest.
type Plan struct {
	Version    int    `json:"version"`
	TicketID   int64  `json:"ticket_id"`
	ProjectRef string `json:"project_ref"`
	// The snapshot and the object version that was verified (its key, ETag
	// and size in S3): a replaced object is a changed plan.
	SnapshotID   int64     `json:"snapshot_id"`
	SnapshotKey  string    `json:"snapshot_key"`
	SnapshotETag string    `json:"snapshot_etag"`
	SnapshotSize int64     `json:"snapshot_size"`
	Scope        ScopeKind `json:"scope"`
	Tables       []string  `json:"tables"`
	Mode         Mode      `json:"mode"`
	// Target is the project the restore writes: the live one (destructive)
	// or the new project's ref.
	Target  string  `json:"target"`
	Options Options `json:"options"`
}

// PlanOf is the plan of ticket t restoring snapshot snap.
func PlanOf(t Ticket, snap Snapshot) Plan {
	tables := slices.Clone(t.Scope.Tables)
	if tables == nil {
		tables = []string{}
	}
	slices.Sort(tables)
	target := t.ProjectRef
	if t.Mode == ModeNewProject {
		target = t.TargetRef()
	}
	return Plan{Version: PlanVersion, TicketID: t.ID, ProjectRef: t.ProjectRef, SnapshotID: t.SnapshotID,
		SnapshotKey: snap.Key, SnapshotETag: snap.ETag, SnapshotSize: snap.SizeBytes,
		Scope: cmpOr(t.Scope.Kind, ScopeFull), Tables: tables, Mode: t.Mode, Target: target, Options: t.Options}
}

// Canonical is the byte string the digest is taken of.
func (p Plan) Canonical() []byte {
	if p.Tables == nil {
		p.Tables = []string{}
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("plan encoding: %v", err)) // only plain strings, numbers and booleans
	}
	return append([]byte("restoreportal-plan\n"), b...)
}

// Digest is the hex SHA-256 of the plan's canonical encoding.
func (p Plan) Digest() string {
	h := sha256.Sum256(p.Canonical())
	return hex.EncodeToString(h[:])
}

// Changes lists, for people, what differs from old to p ("mode: new_project
// -> destructive"); empty when the plans are the same.
func (p Plan) Changes(old Plan) []string {
	var out []string
	add := func(what string, from, to any) {
		if fmt.Sprint(from) != fmt.Sprint(to) {
			out = append(out, fmt.Sprintf("%s: %v -> %v", what, orNone(from), orNone(to)))
		}
	}
	add("snapshot", old.SnapshotID, p.SnapshotID)
	if old.SnapshotID == p.SnapshotID && (old.SnapshotETag != p.SnapshotETag || old.SnapshotSize != p.SnapshotSize || old.SnapshotKey != p.SnapshotKey) {
		out = append(out, "snapshot object: the dump in S3 was replaced since the plan was made")
	}
	add("scope", old.Scope, p.Scope)
	add("tables", strings.Join(old.Tables, ", "), strings.Join(p.Tables, ", "))
	add("mode", old.Mode, p.Mode)
	add("target", old.Target, p.Target)
	add("keep days", old.Options.KeepDays, p.Options.KeepDays)
	add("allow dangling references", old.Options.AllowDangling, p.Options.AllowDangling)
	add("undelete limited to", old.Options.Undelete.String(), p.Options.Undelete.String())
	add("staged review", old.Options.StagedReview, p.Options.StagedReview)
	add("staged review of the full restore", old.Options.StagedReviewFull, p.Options.StagedReviewFull)
	add("project", old.ProjectRef, p.ProjectRef)
	if len(out) == 0 && old.Digest() != p.Digest() {
		out = append(out, "other options changed")
	}
	return out
}

func orNone(v any) any {
	if s := fmt.Sprint(v); s == "" || s == "0" {
		return "(none)"
	}
	return v
}

// RollbackPlan is what the approval of a rollback vouches for: which restore
// (its plan) is undone and what is put back.
type RollbackPlan struct {
	Version        int               `json:"version"`
	TicketID       int64             `json:"ticket_id"`
	ProjectRef     string            `json:"project_ref"`
	PlanDigest     string            `json:"plan_digest"` // the restore's plan
	TargetDatabase string            `json:"target_database"`
	KeptDatabase   string            `json:"kept_database"`
	KeptTables     map[string]string `json:"kept_tables"` // JSON sorts map keys
	KeptUntil      *time.Time        `json:"kept_until"`
}

// RollbackPlanOf is the rollback of ticket t, whose restore ran planDigest.
func RollbackPlanOf(t Ticket, planDigest string) RollbackPlan {
	p := RollbackPlan{Version: PlanVersion, TicketID: t.ID, ProjectRef: t.ProjectRef, PlanDigest: planDigest, KeptTables: map[string]string{}}
	if r := t.Result; r != nil {
		p.TargetDatabase, p.KeptDatabase = r.TargetDatabase, r.KeptDatabase
		for k, v := range r.KeptTables {
			p.KeptTables[k] = v
		}
		if r.KeptUntil != nil {
			u := r.KeptUntil.UTC().Truncate(time.Second)
			p.KeptUntil = &u
		}
	}
	return p
}

// Digest is the hex SHA-256 of the rollback's canonical encoding.
func (p RollbackPlan) Digest() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("rollback plan encoding: %v", err))
	}
	h := sha256.Sum256(append([]byte("restoreportal-rollback\n"), b...))
	return hex.EncodeToString(h[:])
}

// Approval is what an approver sends: the project ref typed to confirm, and
// the digest of the plan they were shown.
type Approval struct {
	ConfirmRef string
	PlanDigest string
	// TTL is how long a submitted plan waits for approval; 0 means
	// DefaultApprovalTTL.
	TTL time.Duration
}

var (
	// ErrPlanChanged refuses an approval of a plan that is no longer the
	// ticket's: the approver must look at the current one.
	ErrPlanChanged = errors.New("the plan changed since you loaded it; review the current plan below and approve again")
	// ErrApprovalLapsed refuses an approval of a plan submitted longer ago
	// than the approval TTL; the ticket is back to ready.
	ErrApprovalLapsed = errors.New("the approval request lapsed (not approved in time); the plan must be submitted again")
)

// PlanChangedError is ErrPlanChanged with what changed, when the approved
// digest is a version of the ticket's plan the portal knows.
type PlanChangedError struct {
	Current Plan
	Changes []string // empty when the approved digest is unknown
}

func (e *PlanChangedError) Error() string { return ErrPlanChanged.Error() }

// Unwrap makes errors.Is(err, ErrPlanChanged) true.
func (e *PlanChangedError) Unwrap() error { return ErrPlanChanged }
