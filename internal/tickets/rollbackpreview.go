package tickets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/cluster"
)

// RollbackPreview says, for the confirmation of t's rollback, what the
// rollback will keep aside and until when, as sentences for a person: for a
// full restore the name the restored database will be kept as; for a table
// restore, per table, the rows written since the restore and where they will
// be kept (read from the live tables through cl, without locking them; cl
// nil leaves the counts out); for a new-project restore, that its database
// is dropped. keepFor is how long a rollback keeps things
// (PORTAL_KEEP_FOR), counted from now. It lives here, not in the workers'
// package, so the portal shows it.
func RollbackPreview(ctx context.Context, db DB, cl *cluster.Cluster, t Ticket, keepFor time.Duration, now time.Time) ([]string, error) {
	r := t.Result
	if r == nil || !r.OK {
		return nil, errors.New("the restore did not succeed: nothing to roll back")
	}
	until := now.Add(keepFor).UTC().Format("2006-01-02 15:04 UTC")
	switch {
	case t.Mode == ModeUndelete:
		return undeleteRollbackPreview(r), nil // undelete.go
	case r.KeptDatabase != "":
		aside := cluster.RollbackAsideName(r.TargetDatabase, t.ID)
		return []string{
			fmt.Sprintf("%s, kept since the restore, comes back as %s.", r.KeptDatabase, r.TargetDatabase),
			fmt.Sprintf("The restored database %s, with everything written to it since the restore, will be kept as %s until %s, then dropped.",
				r.TargetDatabase, aside, until),
		}, nil
	case len(r.KeptTables) > 0:
		where := "database " + cluster.TableAsideName(r.TargetDatabase, t.ID)
		out := []string{fmt.Sprintf("The tables' current rows will be kept in %s until %s, then dropped.", where, until)}
		if cl == nil {
			return out, nil
		}
		lines, err := tableChangesSince(ctx, db, cl, t.ID, where)
		return append(out, lines...), err
	case t.Mode == ModeNewProject && r.TargetDatabase != "":
		return []string{fmt.Sprintf("Database %s of new project %s will be dropped; nothing is kept.", r.TargetDatabase, t.TargetRef())}, nil
	}
	return nil, errors.New("the restore kept nothing to roll back to")
}

// tableChangesSince reads the committed table swap of ticket id and counts
// what was written to its tables since.
func tableChangesSince(ctx context.Context, db DB, cl *cluster.Cluster, id int64, where string) ([]string, error) {
	live, tables, state, xid, after, err := tableSwapRestoreGet(ctx, db, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (state != "committed" || xid == nil)) {
		return nil, fmt.Errorf("the table restore of ticket %d is not recorded as committed", id)
	}
	if err != nil {
		return nil, fmt.Errorf("table swap of ticket %d: %w", id, err)
	}
	ts := make([]cluster.Table, 0, len(tables))
	for _, n := range tables {
		t, err := cluster.ParseTable(n)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	conn, err := cl.Connect(ctx, live)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	changes, err := cluster.ChangesSince(ctx, conn, ts, uint64(*xid), after)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(changes))
	for _, c := range changes {
		out = append(out, c.Sentence(where))
	}
	return out, nil
}
