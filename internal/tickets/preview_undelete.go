package tickets

import (
	"cmp"
	"fmt"
	"strings"
)

// UndeleteEstimate is what the preview can honestly say, read-only, of an
// undelete's dry run for one table. The exact numbers need the snapshot's
// keys, which exist only once the worker has restored the snapshot into its
// staging copy (the result reports them, counted inside the merge's
// transaction). Before that the preview has the live count and the
// snapshot's inventory count, and from them bounds:
//   - rows inserted: at least snapshot - live (the snapshot has that many
//     keys live cannot hold), at most the snapshot's rows (or, with listed
//     keys, the number of keys listed);
//   - conflicts (key in both, content differs): at most min(snapshot, live).
//
// Exact is true only when both bounds meet (for instance a table empty live:
// every snapshot row comes back).
type UndeleteEstimate struct {
	InsertMin    int64  `json:"insert_min"`
	InsertMax    int64  `json:"insert_max"`
	ConflictsMax int64  `json:"conflicts_max"`
	Exact        bool   `json:"exact"`
	Limit        string `json:"limit,omitempty"` // the ticket's limit on this table, in words
	Basis        string `json:"basis"`
}

// InsertText is the rows-inserted figure as a person reads it.
func (e UndeleteEstimate) InsertText() string {
	if e.Exact {
		return FormatCount(e.InsertMin)
	}
	if e.InsertMin == e.InsertMax {
		return "about " + FormatCount(e.InsertMin)
	}
	return "between " + FormatCount(e.InsertMin) + " and " + FormatCount(e.InsertMax) + " (estimate)"
}

// ConflictsText is the conflicts figure as a person reads it.
func (e UndeleteEstimate) ConflictsText() string {
	if e.ConflictsMax == 0 && e.Exact {
		return "0"
	}
	return "at most " + FormatCount(e.ConflictsMax) + " (estimate)"
}

// limitWords is an undelete limit in words ("keys 4, 9" / "status = 'gone'").
func (l UndeleteLimit) limitWords() string {
	if len(l.Keys) > 0 {
		shown := l.Keys
		if len(shown) > 5 {
			shown = shown[:5]
		}
		s := fmt.Sprintf("%d listed key(s): %s", len(l.Keys), strings.Join(shown, ", "))
		if len(l.Keys) > len(shown) {
			s += ", ..."
		}
		return s
	}
	if l.Filter.Op != "" {
		op := l.Filter.Op
		for _, o := range UndeleteOps {
			if o.Op == op {
				op = o.Label
			}
		}
		s := "rows where " + l.Filter.Column + " " + op
		if UndeleteOpNeedsValue(l.Filter.Op) {
			s += " " + fmt.Sprintf("%q", l.Filter.Value)
		}
		return s
	}
	return ""
}

// undeletePreview fills an undelete ticket's preview: per table the dry-run
// bounds, and sentences that say what an undelete does and does not do in
// place of a destructive restore's loss window and safety snapshot.
func undeletePreview(p *Preview, t Ticket) {
	l := t.Options.Undelete
	for i := range p.Tables {
		pt := &p.Tables[i]
		e := UndeleteEstimate{InsertMax: pt.SnapshotRows}
		live := pt.LiveRows
		if pt.LiveMissing {
			live = 0
		}
		e.InsertMin = max(pt.SnapshotRows-live, 0)
		e.ConflictsMax = min(pt.SnapshotRows, live)
		e.Basis = "from the snapshot's inventory count and the live count"
		if !pt.LiveExact && !pt.LiveMissing {
			e.Basis += " (the live count is the planner's estimate)"
		}
		if p.LiveError != "" {
			e.InsertMin, e.ConflictsMax = 0, pt.SnapshotRows
			e.Basis = "from the snapshot's inventory count only (live could not be read)"
		}
		if l.Limits() && l.Table == pt.Name {
			e.Limit = l.limitWords()
			// A limit can only narrow the rows: no lower bound is known.
			e.InsertMin = 0
			if n := int64(len(l.Keys)); n > 0 {
				e.InsertMax, e.ConflictsMax = min(e.InsertMax, n), min(e.ConflictsMax, n)
			}
			e.Basis += "; limited to " + e.Limit
		}
		e.Exact = e.InsertMin == e.InsertMax && p.LiveError == "" && (pt.LiveExact || pt.LiveMissing) && (e.ConflictsMax == 0)
		pt.Undelete = &e
	}
	db := cmp.Or(p.LiveDatabase, "the live database")
	p.LossWindow = nil
	p.Safety = "No live row is updated or deleted: only the snapshot's rows whose key is missing live are inserted, so no safety snapshot is taken. The inserted keys are recorded; a rollback deletes exactly those rows."
	p.Connections = fmt.Sprintf("Connections are not cut: the merge locks the listed tables of %s against writes in one transaction (readers continue) while it inserts.", db)
	p.Review = ""
	p.Undelete = "Exact dry-run numbers need the snapshot's keys, which exist only in the restored copy: the figures below are bounds from the counts, and the worker reports the exact rows inserted and the conflicts (with sample keys) in the result."
	if t.Options.StagedReview {
		p.Review = "Staged review: once the snapshot's tables are restored into the copy and verified, the worker computes the exact dry run against live without writing to it (per table the rows it would insert, the conflicts and the identical rows, with up to 20 sample keys, within the limit), shows it on this ticket and pauses until an approver confirms the merge (typing the ref again) or abandons it (the copy is dropped, live untouched)."
		p.Undelete = "The figures below are bounds from the counts: the exact numbers (rows inserted, conflicts, identical rows, with sample keys) come at the staged review's pause, before anything changes live, and must be confirmed there. The merge reports its own counts again when it runs, since live may move in between."
	}
}
