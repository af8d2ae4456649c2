package mail

import "testing"

// TestUnderstandUndeleteMail: a whole mail gives the ref, the table and the
// undelete mode.
func TestUnderstandUndeleteMail(t *testing.T) {
	t.Parallel()
	msg := testMessage("Deleted orders in proj-abc", "Hi,\n\nsomeone ran a bad script and we lost rows in public.orders this morning.\n"+
		"Please restore the deleted rows only, the other changes since must stay.\n\nThanks, Ana")
	r := Understand(msg, UnderstandOptions{KnownRefs: testRefs, Tables: testInventory})
	if r.Mode.Value != ModeUndelete || r.ProjectRef.Value != "proj-abc" || len(r.Scope.Value.Tables) != 1 || r.Scope.Value.Tables[0] != "public.orders" {
		t.Fatalf("understood %+v / %+v / %+v", r.Mode, r.ProjectRef, r.Scope)
	}
}
