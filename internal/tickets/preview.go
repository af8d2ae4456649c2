package tickets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/snapshots"
)

// The preview is a restore's plan in numbers, shown before anyone approves
// it: per affected table the live and the snapshot's rows and sizes, the
// data-loss window in words, the newer snapshots that were passed over and
// why, the safety snapshot and the connections a cut-over ends, and how long
// the restore should take. It reads the live database read-only, under a
// statement timeout; nothing in it changes anything.

// DefaultPreviewExactRows is the table size (in the planner's estimate) up to
// which the preview counts live rows exactly (PORTAL_PREVIEW_EXACT_ROWS);
// larger tables show the estimate, labelled "about".
const DefaultPreviewExactRows = 1_000_000

// DefaultRestoreBytesPerSecond is the restore speed (compressed dump bytes
// per second) the estimate assumes when this installation has no finished
// restore of the kind yet.
const DefaultRestoreBytesPerSecond = 8 << 20

// DefaultPreviewStatementTimeout bounds every statement the preview runs on
// the live database; a count that takes longer falls back to the estimate.
const DefaultPreviewStatementTimeout = 5 * time.Second

// PreviewOptions tune BuildPreview; zero values mean the defaults.
type PreviewOptions struct {
	ExactRows        int64         // PORTAL_PREVIEW_EXACT_ROWS
	StatementTimeout time.Duration // per statement on the live database
	KeepFor          time.Duration // PORTAL_KEEP_FOR: how long replaced state is kept
	SafetyKeepFor    time.Duration // PORTAL_SAFETY_KEEP_FOR
	Now              time.Time
}

// PreviewTable is one affected table: live against snapshot.
type PreviewTable struct {
	Name string `json:"name"`
	// LiveRows is exact when LiveExact, else the planner's estimate
	// ("about"); LiveMissing says the table does not exist live.
	LiveRows    int64 `json:"live_rows"`
	LiveExact   bool  `json:"live_exact"`
	LiveMissing bool  `json:"live_missing,omitempty"`
	LiveBytes   int64 `json:"live_bytes"`
	// SnapshotRows and SnapshotBytes are the verified inventory's (rows and
	// COPY text bytes); SnapshotMissing says the dump has no such table.
	SnapshotRows    int64 `json:"snapshot_rows"`
	SnapshotBytes   int64 `json:"snapshot_bytes"`
	SnapshotMissing bool  `json:"snapshot_missing,omitempty"`
	// Delta is SnapshotRows - LiveRows: what the table gains (or, negative,
	// loses) by the restore.
	Delta int64 `json:"delta"`
	// Undelete is, for an undelete, the dry run's bounds (preview_undelete.go).
	Undelete *UndeleteEstimate `json:"undelete,omitempty"`
}

// LiveText is the live row count as a person reads it: "about 1,200,000"
// for an estimate.
func (p PreviewTable) LiveText() string {
	switch {
	case p.LiveMissing:
		return "(no such table)"
	case p.LiveExact:
		return FormatCount(p.LiveRows)
	}
	return "about " + FormatCount(p.LiveRows)
}

// DeltaText is the signed delta, "about" when the live count is an estimate.
func (p PreviewTable) DeltaText() string {
	s := FormatCount(p.Delta)
	if p.Delta > 0 {
		s = "+" + s
	}
	if !p.LiveExact && !p.LiveMissing {
		return "about " + s
	}
	return s
}

// Estimate is how long the restore should take and what that rests on.
type Estimate struct {
	Seconds        float64 `json:"seconds"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	Kind           string  `json:"kind"`     // scope_mode, e.g. tables_destructive
	Restores       int     `json:"restores"` // past restores of the kind it is taken from; 0: the default
	Basis          string  `json:"basis"`    // in words
}

// Preview is the plan of a ticket in numbers.
type Preview struct {
	TicketID        int64          `json:"ticket_id"`
	SnapshotID      int64          `json:"snapshot_id"`
	SnapshotTakenAt time.Time      `json:"snapshot_taken_at"`
	SnapshotBytes   int64          `json:"snapshot_bytes"`
	Scope           ScopeKind      `json:"scope"`
	Mode            Mode           `json:"mode"`
	LiveDatabase    string         `json:"live_database,omitempty"`
	Tables          []PreviewTable `json:"tables"`
	// LiveError says why live counts are missing (the cluster could not be
	// read); the snapshot's side is still shown.
	LiveError string `json:"live_error,omitempty"`
	// LossWindow says, for a destructive restore, what will be replaced.
	LossWindow []string `json:"loss_window,omitempty"`
	// Skipped lists newer snapshots the restore does not use, and why.
	Skipped []string `json:"skipped,omitempty"`
	Safety  string   `json:"safety,omitempty"`
	// Review says whether the restore pauses for a staged review.
	Review      string `json:"review,omitempty"`
	Connections string `json:"connections,omitempty"`
	// Undelete says, for an undelete, what the dry-run figures rest on.
	Undelete   string    `json:"undelete,omitempty"`
	Estimate   Estimate  `json:"estimate"`
	ComputedAt time.Time `json:"computed_at"`
}

// ErrNoPreview means the ticket has no snapshot chosen: there is no plan to
// put numbers on yet.
var ErrNoPreview = errors.New("no snapshot is chosen yet: there is no plan to preview")

// BuildPreview computes the preview of ticket t. cl is the project's
// cluster (nil, or cerr set, leaves the live side out and says why). The
// live database is read in one read-only transaction.
func BuildPreview(ctx context.Context, db snapshots.DB, cl *cluster.Cluster, t Ticket, o PreviewOptions) (Preview, error) {
	if t.SnapshotID == 0 {
		return Preview{}, ErrNoPreview
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	snap, err := snapshots.SnapshotGet(ctx, db, t.SnapshotID)
	if err != nil {
		return Preview{}, fmt.Errorf("snapshot %d: %w", t.SnapshotID, err)
	}
	inv, err := snapshots.SnapshotTables(ctx, db, t.SnapshotID)
	if err != nil {
		return Preview{}, err
	}
	p := Preview{TicketID: t.ID, SnapshotID: snap.ID, SnapshotTakenAt: snap.Time().UTC(), SnapshotBytes: snap.Size,
		Scope: cmpOr(t.Scope.Kind, ScopeFull), Mode: t.Mode, ComputedAt: now.UTC()}

	names := t.Scope.Tables
	if p.Scope == ScopeFull {
		names = nil
		for _, tb := range inv {
			names = append(names, tb.Schema+"."+tb.Name)
		}
	}
	byName := map[string]snapshots.Table{}
	for _, tb := range inv {
		byName[tb.Schema+"."+tb.Name] = tb
	}

	if pr, err := snapshots.ProjectGet(ctx, db, t.ProjectRef); err == nil {
		p.LiveDatabase = pr.DatabaseName
	} else if !errors.Is(err, snapshots.ErrNotFound) {
		return Preview{}, err
	}
	var live map[string]LiveTable
	switch {
	case cl == nil:
		p.LiveError = "the project's cluster is not configured: live counts are not shown"
	case p.LiveDatabase == "":
		p.LiveError = fmt.Sprintf("project %s has no registered database: live counts are not shown", t.ProjectRef)
	default:
		live, err = LiveTables(ctx, cl, p.LiveDatabase, o.ExactRows, o.StatementTimeout)
		if err != nil {
			p.LiveError = "the live database could not be read: " + err.Error()
			live = nil
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
		pt := PreviewTable{Name: n}
		if s, ok := byName[n]; ok {
			pt.SnapshotRows, pt.SnapshotBytes = s.Rows, s.Bytes
		} else {
			pt.SnapshotMissing = true
		}
		if live != nil {
			if l, ok := live[n]; ok {
				pt.LiveRows, pt.LiveExact, pt.LiveBytes = l.Rows, l.Exact, l.Bytes
			} else {
				pt.LiveMissing = true
			}
		}
		pt.Delta = pt.SnapshotRows - pt.LiveRows
		p.Tables = append(p.Tables, pt)
	}
	// A full destructive restore replaces the whole database: live tables
	// the snapshot does not hold are gone afterwards.
	if p.Scope == ScopeFull && t.Destructive() && live != nil {
		for _, n := range sortedLiveNames(live) {
			if !seen[n] {
				l := live[n]
				p.Tables = append(p.Tables, PreviewTable{Name: n, LiveRows: l.Rows, LiveExact: l.Exact, LiveBytes: l.Bytes,
					SnapshotMissing: true, Delta: -l.Rows})
			}
		}
	}

	if t.Destructive() {
		p.LossWindow = lossWindow(p, now)
		p.Safety = safetySentence(p, t, cmp.Or(o.SafetyKeepFor, o.KeepFor))
		p.Connections = connectionsSentence(p)
		switch {
		case p.Scope == ScopeTables && t.Options.StagedReview:
			p.Review = "Staged review: once the restored copy is verified the restore pauses, shows per table the rows only live (lost), only in the snapshot (back) and those that differ, and waits for an approver to confirm the cut-over (typing the ref again) or abandon it."
		case p.Scope == ScopeTables:
			p.Review = "No staged review: the cut-over follows the verification directly."
		case p.Scope == ScopeFull && t.Options.StagedReviewFull:
			p.Review = "Staged review: once the restored copy of the whole database is verified the restore pauses, shows every table compared with live (rows only live (lost), only in the snapshot (back), differing, and tables or columns on one side only), and waits for an approver to confirm the cut-over (typing the ref again) or abandon it."
		}
	}
	if t.Mode == ModeUndelete {
		undeletePreview(&p, t)
	}
	if p.Skipped, err = skippedSnapshots(ctx, db, t, snap); err != nil {
		return Preview{}, err
	}
	if p.Estimate, err = EstimateDuration(ctx, db, p.Scope, t.Mode, snap.Size); err != nil {
		return Preview{}, err
	}
	return p, nil
}

// lossWindow words what a destructive restore replaces.
func lossWindow(p Preview, now time.Time) []string {
	when := p.SnapshotTakenAt.Format("2006-01-02 15:04 UTC")
	ago := FormatAgo(now.Sub(p.SnapshotTakenAt))
	if p.Scope == ScopeFull {
		db := cmp.Or(p.LiveDatabase, "the live database")
		return []string{fmt.Sprintf("Everything written to database %s after %s, %s, will be replaced: every table, not only those listed.", db, when, ago)}
	}
	out := make([]string, 0, len(p.Tables))
	for _, tb := range p.Tables {
		out = append(out, fmt.Sprintf("Everything written to %s after %s, %s, will be replaced.", tb.Name, when, ago))
	}
	return out
}

func safetySentence(p Preview, t Ticket, keep time.Duration) string {
	what := "the whole live database"
	if p.Scope == ScopeTables {
		what = "the live tables " + strings.Join(t.Scope.Tables, ", ")
	}
	s := fmt.Sprintf("Before anything changes, a safety snapshot (pg_dump) of %s is taken into S3", what)
	if keep > 0 {
		s += " and kept for " + formatDays(keep)
	}
	return s + "."
}

func connectionsSentence(p Preview) string {
	db := cmp.Or(p.LiveDatabase, "the live database")
	if p.Scope == ScopeFull {
		return fmt.Sprintf("Connections will be cut: at the cut-over every session of %s is ended while the databases are renamed (a short step); clients must reconnect.", db)
	}
	return fmt.Sprintf("Connections are not cut, but the swap locks the listed tables of %s in one transaction: sessions that use them wait until it commits, and the swap waits for sessions that hold them.", db)
}

// skippedSnapshots lists the snapshots newer than the one the ticket uses,
// each with why it is not used.
func skippedSnapshots(ctx context.Context, db snapshots.DB, t Ticket, chosen snapshots.Snapshot) ([]string, error) {
	all, err := snapshots.SnapshotListByProject(ctx, db, t.ProjectRef, 200)
	if err != nil {
		return nil, err
	}
	var out []string
	more := 0
	for _, s := range all { // newest first
		if !s.Time().After(chosen.Time()) || s.ID == chosen.ID {
			continue
		}
		if len(out) == 5 {
			more++
			continue
		}
		at := s.Time().UTC().Format("2006-01-02 15:04 UTC")
		var why string
		switch {
		case s.Usable() != nil:
			why = "not usable: " + s.Usable().Error()
		case t.RequestedAt != nil && s.Time().After(*t.RequestedAt):
			why = "taken after the requested time " + t.RequestedAt.UTC().Format("2006-01-02 15:04 UTC")
		default:
			why = "verified, but the ticket's snapshot was chosen instead"
		}
		out = append(out, fmt.Sprintf("The newer snapshot %d of %s is skipped: %s.", s.ID, at, why))
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("%d more newer snapshots are skipped.", more))
	}
	return out, nil
}

// FormatCount writes n with thousands separators: 1,234,567.
func FormatCount(n int64) string { return cluster.Thousands(n) }

// FormatAgo says how long ago d was, in the unit a person would use:
// "12 minutes ago", "29 hours ago", "3 days ago".
func FormatAgo(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 72*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

// FormatDuration is an estimate's duration in words: "about 40 seconds",
// "about 12 minutes", "about 2.5 hours".
func FormatDuration(sec float64) string {
	switch {
	case sec < 1.5:
		return "about 1 second"
	case sec < 60:
		return fmt.Sprintf("about %d seconds", int(sec+0.5))
	case sec < 3600:
		return fmt.Sprintf("about %d minutes", int(sec/60+0.5))
	}
	return fmt.Sprintf("about %.1f hours", sec/3600)
}
