package tickets

import (
	"strings"
	"testing"
)

// The undelete dry run's bounds from the counts alone: what the preview can
// honestly state without the snapshot's keys.
func TestUndeletePreviewBounds(t *testing.T) {
	t.Parallel()
	p := Preview{LiveDatabase: "alpha", LossWindow: []string{"x"}, Tables: []PreviewTable{
		{Name: "public.orders", LiveRows: 995, LiveExact: true, SnapshotRows: 1000},
		{Name: "public.gone", LiveMissing: true, SnapshotRows: 40},
		{Name: "public.big", LiveRows: 2_000_000, SnapshotRows: 1_999_000},
		{Name: "public.limited", LiveRows: 10, LiveExact: true, SnapshotRows: 50},
	}}
	tk := Ticket{Mode: ModeUndelete, Options: Options{Undelete: UndeleteLimit{Table: "public.limited", Keys: []string{"1", "2", "3"}}}}
	undeletePreview(&p, tk)
	want := []UndeleteEstimate{
		{InsertMin: 5, InsertMax: 1000, ConflictsMax: 995},
		{InsertMin: 40, InsertMax: 40, ConflictsMax: 0, Exact: true},
		{InsertMin: 0, InsertMax: 1_999_000, ConflictsMax: 1_999_000},
		{InsertMin: 0, InsertMax: 3, ConflictsMax: 3, Limit: "3 listed key(s): 1, 2, 3"},
	}
	for i, w := range want {
		e := p.Tables[i].Undelete
		if e == nil || e.InsertMin != w.InsertMin || e.InsertMax != w.InsertMax || e.ConflictsMax != w.ConflictsMax || e.Exact != w.Exact || e.Limit != w.Limit {
			t.Errorf("%s: %+v, want %+v", p.Tables[i].Name, e, w)
		}
	}
	if got := p.Tables[1].Undelete.InsertText(); got != "40" {
		t.Errorf("exact insert text %q", got)
	}
	if got := p.Tables[0].Undelete.InsertText(); got != "between 5 and 1,000 (estimate)" {
		t.Errorf("insert text %q", got)
	}
	if p.LossWindow != nil || p.Undelete == "" || p.Safety == "" {
		t.Errorf("sentences: loss %v undelete %q safety %q", p.LossWindow, p.Undelete, p.Safety)
	}
	f := UndeleteLimit{Filter: UndeleteFilter{Column: "status", Op: "eq", Value: `gone'`}}.limitWords()
	if f != `rows where status = "gone'"` {
		t.Errorf("filter words %q", f)
	}
}

// With staged review on, the preview says the exact numbers come at the
// review's pause (before live changes); without it, that they come in the
// result.
func TestUndeletePreviewSaysWhereExactCountsCome(t *testing.T) {
	t.Parallel()
	for _, staged := range []bool{false, true} {
		p := Preview{Tables: []PreviewTable{{Name: "public.orders", LiveRows: 5, LiveExact: true, SnapshotRows: 9}}}
		undeletePreview(&p, Ticket{Mode: ModeUndelete, Options: Options{StagedReview: staged}})
		atPause := strings.Contains(p.Undelete, "come at the staged review's pause") && strings.Contains(p.Review, "exact dry run")
		if atPause != staged || staged == (p.Review == "") {
			t.Errorf("staged %v: review %q undelete %q", staged, p.Review, p.Undelete)
		}
	}
}
