package tickets

import (
	"fmt"
	"strings"
	"time"
)

// Preflight says in one or two sentences exactly what the restore of t from
// snap will do, for the ticket page and the approver. keepFor is how long a
// replaced state is kept (PORTAL_KEEP_FOR, or the ticket's KeepDays).
func Preflight(t Ticket, snap Snapshot, keepFor time.Duration) string {
	if t.Options.KeepDays > 0 {
		keepFor = time.Duration(t.Options.KeepDays) * 24 * time.Hour
	}
	when := snap.TakenAt.UTC().Format("2006-01-02 15:04 UTC")
	keep := formatDays(keepFor)
	what := "the whole database"
	if t.Scope.Kind == ScopeTables {
		what = fmt.Sprintf("%d table(s) (%s)", len(t.Scope.Tables), strings.Join(t.Scope.Tables, ", "))
	}
	if t.Mode == ModeNewProject {
		return fmt.Sprintf("A new project %s will be created holding %s of %s as of the snapshot of %s. "+
			"The live project %s is not changed. Scheduled jobs, outgoing hooks and subscriptions are disabled in the copy.",
			t.TargetRef(), what, t.ProjectRef, when, t.ProjectRef)
	}
	if t.Mode == ModeUndelete {
		return UndeletePreflight(t, what, when)
	}
	if t.Scope.Kind == ScopeTables {
		return fmt.Sprintf("In the live project %s, %s will be replaced by their content in the snapshot of %s, in one transaction, "+
			"after the restored copy is complete and verified. The current tables are kept aside for %s and a rollback puts them back. "+
			"Other tables are not changed.", t.ProjectRef, what, when, keep)
	}
	return fmt.Sprintf("The database of the live project %s will be replaced by the snapshot of %s: the snapshot is restored into a "+
		"staging database and verified first, then the names are swapped in one short step. The current database is kept, renamed, "+
		"for %s, and a rollback puts it back.", t.ProjectRef, when, keep)
}

func formatDays(d time.Duration) string {
	days := int(d.Hours() / 24)
	if days == 1 {
		return "1 day"
	}
	if days > 1 {
		return fmt.Sprintf("%d days", days)
	}
	return d.String()
}
