package mail

import "testing"

// TestUnderstandUndelete: "restore the deleted rows" and "only the missing
// rows" read as an undelete; more specific than the other modes' words, it
// wins over them; a negated request and unrelated "deleted" do not count.
func TestUnderstandUndelete(t *testing.T) {
	t.Parallel()
	checkModes(t, []modeCase{
		{"please restore the deleted rows of public.orders", ModeUndelete, Likely},
		{"we only need the missing rows back", ModeUndelete, Likely},
		{"can you bring back the records we deleted yesterday", ModeUndelete, Likely},
		{"Please recover the lost orders rows", ModeUndelete, Likely},
		{"undelete public.orders please", ModeUndelete, Likely},
		{"restore only the missing rows, do not overwrite anything", ModeUndelete, Likely},
		{"roll back the orders table? no: just the deleted rows. restore the deleted rows only", ModeUndelete, Likely},
		{"restore the deleted rows. Yes, only the missing rows", ModeUndelete, Certain},
		{"please overwrite the live database", ModeDestructive, Likely},
		{"the deleted column came back wrong, overwrite it", ModeDestructive, Likely},
		{"don't just restore the deleted rows, replace the whole table", ModeDestructive, Likely},
	})
}

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
