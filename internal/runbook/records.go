package runbook

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// Every database a restore or rollback creates is recorded in the portal
// (tickets.DatabaseRecordClaim) before it is created, and every drop or
// rename checks that record first: a worker never drops a database its
// ticket did not make, whatever its name.

// recorder is a ticket's hand on the project cluster.
type recorder struct {
	d        Deps
	cl       *cluster.Cluster
	ticketID int64
	// held, when set, reports whether the attempt still holds the project
	// lock: an attempt that lost it drops nothing (another may run).
	held func(context.Context) error
}

// claim records name (a database; schema "" ) or a schema inside database
// name as planned by the ticket for purpose, before it is created. A copy left
// by an earlier attempt of this ticket (recorded, so its own) is removed when
// dropStale; a database of that name that is not recorded for the ticket is
// refused and left alone.
func (o recorder) claim(ctx context.Context, name, schema, purpose string, dropStale bool) (tickets.DatabaseRecord, error) {
	rec, fresh, err := tickets.DatabaseRecordClaimOn(ctx, o.d.Pool, o.ticketID, o.cl.Name(), name, schema, purpose)
	if err != nil {
		return tickets.DatabaseRecord{}, err
	}
	if schema != "" {
		return rec, nil // the schema's checks are the caller's (it needs a connection to name)
	}
	exists, err := o.cl.Exists(ctx, name)
	if err != nil {
		return tickets.DatabaseRecord{}, err
	}
	switch {
	case !exists:
		return rec, nil
	case fresh:
		// Not ours: release the claim, touch nothing.
		if rerr := tickets.DatabaseRecordSet(context.WithoutCancel(ctx), o.d.Pool, rec.ID, tickets.RecordDropped, "", nil); rerr != nil {
			return tickets.DatabaseRecord{}, rerr
		}
		return tickets.DatabaseRecord{}, fmt.Errorf("database %s already exists on cluster %s and is not recorded as made by ticket %d: it was left alone; remove or rename it by hand, then retry",
			name, o.cl.Name(), o.ticketID)
	case !dropStale:
		return tickets.DatabaseRecord{}, fmt.Errorf("database %s (the %s of ticket %d, %s) exists already: resolve it by hand before retrying", name, purpose, o.ticketID, rec.State)
	}
	if err := o.drop(ctx, rec); err != nil {
		return tickets.DatabaseRecord{}, err
	}
	rec, _, err = tickets.DatabaseRecordClaimOn(ctx, o.d.Pool, o.ticketID, o.cl.Name(), name, schema, purpose)
	return rec, err
}

// made records that the claimed database now exists.
func (o recorder) made(ctx context.Context, rec tickets.DatabaseRecord, dropAfter *time.Time) error {
	return tickets.DatabaseRecordSet(context.WithoutCancel(ctx), o.d.Pool, rec.ID, tickets.RecordMade, "", dropAfter)
}

// mine reads the active record of name (and schema) and checks it is this
// ticket's, for purpose.
func (o recorder) mine(ctx context.Context, name, schema, purpose string) (tickets.DatabaseRecord, error) {
	rec, ok, err := tickets.DatabaseRecordActiveOn(ctx, o.d.Pool, o.cl.Name(), name, schema)
	if err != nil {
		return tickets.DatabaseRecord{}, err
	}
	what := "database " + name
	if schema != "" {
		what = fmt.Sprintf("schema %s in database %s", schema, name)
	}
	if !ok || rec.TicketID != o.ticketID || rec.Purpose != purpose {
		return tickets.DatabaseRecord{}, fmt.Errorf("refusing to touch %s: %w (%s of ticket %d)", what, tickets.ErrNotRecorded, purpose, o.ticketID)
	}
	return rec, nil
}

// drop drops the database of rec after checking the record is still this
// ticket's and not a live database, and records it dropped.
func (o recorder) drop(ctx context.Context, rec tickets.DatabaseRecord) error {
	ctx = context.WithoutCancel(ctx)
	if o.held != nil {
		if err := o.held(ctx); err != nil {
			return fmt.Errorf("refusing to drop %s: %w", rec.Name, err)
		}
	}
	cur, err := o.mine(ctx, rec.Name, rec.Schema, rec.Purpose)
	if err != nil {
		return err
	}
	if cur.ID != rec.ID || cur.State == tickets.RecordLive && cur.Purpose != tickets.PurposeNewProject {
		return fmt.Errorf("refusing to drop %s: its record changed (%s)", rec.Name, cur.State)
	}
	if cur.Schema != "" {
		exists, err := o.cl.Exists(ctx, cur.Name)
		if err != nil {
			return err
		}
		if exists {
			conn, err := o.cl.Connect(ctx, cur.Name)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			if err := cluster.DropSchema(ctx, conn, cur.Schema); err != nil {
				return fmt.Errorf("drop %s: %w", cur, err)
			}
		}
	} else if err := o.cl.Drop(ctx, cur.Name); err != nil {
		return err
	}
	return tickets.DatabaseRecordSet(ctx, o.d.Pool, cur.ID, tickets.RecordDropped, "", nil)
}

// LeftOnCluster lists what the ticket's records say is still on the cluster,
// for a failed ticket's message.
func LeftOnCluster(ctx context.Context, d Deps, ticketID int64) string {
	recs, err := tickets.DatabaseRecordsByTicket(context.WithoutCancel(ctx), d.Pool, ticketID)
	if err != nil {
		return "(could not read what the ticket left on the cluster: " + err.Error() + ")"
	}
	var left []string
	for _, r := range recs {
		if r.State != tickets.RecordDropped {
			left = append(left, r.String())
		}
	}
	roles, err := tickets.RoleRecordsByTicket(context.WithoutCancel(ctx), d.Pool, ticketID)
	if err != nil {
		return "(could not read what the ticket left on the cluster: " + err.Error() + ")"
	}
	for _, r := range roles {
		if r.State == tickets.RolePlanned || r.State == tickets.RoleMade {
			left = append(left, fmt.Sprintf("role %s (owner role, %s)", r.Name, r.State))
		}
	}
	if len(left) == 0 {
		return "Nothing made by this ticket is left on the cluster."
	}
	return "Left on the cluster by this ticket: " + strings.Join(left, "; ") + "."
}
