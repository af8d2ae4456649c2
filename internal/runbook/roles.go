package runbook

import (
	"context"
	"fmt"
	"strings"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/tickets"
)

// The owner role a new-project restore makes for its database is recorded
// on the ticket (tickets.RoleRecordClaim) before it is created, like the
// database. When the database goes (a rollback, a failed restore) the role
// goes with it, but only a role the ticket recorded as made, and only when
// nothing else on the cluster depends on it.

// claimOwnerRole makes role on cl, recording it for the ticket first. A role
// that exists and is not recorded as this ticket's (a demo project's, a role
// made by hand, another ticket's) is used as it is and never dropped.
func (r *restoreRun) claimOwnerRole(ctx context.Context, cl *cluster.Cluster, role string) error {
	rec, fresh, err := tickets.RoleRecordClaim(ctx, r.d.Pool, r.t.ID, cl.Name(), role)
	if err != nil {
		return err
	}
	if rec.TicketID != r.t.ID {
		return cl.EnsureOwnerRole(ctx, role) // another ticket's role
	}
	if fresh {
		exists, err := cl.RoleExists(ctx, role)
		if err != nil {
			return err
		}
		if exists {
			if err := tickets.RoleRecordSet(context.WithoutCancel(ctx), r.d.Pool, rec.ID, tickets.RoleExisting, ""); err != nil {
				return err
			}
			return cl.EnsureOwnerRole(ctx, role)
		}
	}
	// Fresh and absent, or this ticket's from an earlier attempt (which may
	// have died between the claim and the create).
	if _, err := cl.CreateOwnerRole(ctx, role); err != nil {
		return err
	}
	return tickets.RoleRecordSet(context.WithoutCancel(ctx), r.d.Pool, rec.ID, tickets.RoleMade, "")
}

// dropTicketRoles drops every role on cl the ticket recorded as made (or
// planned: an attempt that died before recording the create), unless
// something else still depends on it; a role left is recorded with the
// reason. It returns a sentence for the ticket, empty when the ticket made
// no role.
func dropTicketRoles(ctx context.Context, d Deps, cl *cluster.Cluster, ticketID int64) (string, error) {
	ctx = context.WithoutCancel(ctx)
	recs, err := tickets.RoleRecordsByTicket(ctx, d.Pool, ticketID)
	if err != nil {
		return "", err
	}
	var dropped, left []string
	for _, rec := range recs {
		if rec.Cluster != cl.Name() || (rec.State != tickets.RolePlanned && rec.State != tickets.RoleMade) {
			continue
		}
		used, err := cl.DropRoleUnlessUsed(ctx, rec.Name)
		if err != nil {
			return "", err
		}
		if used != "" {
			if err := tickets.RoleRecordSet(ctx, d.Pool, rec.ID, tickets.RoleMade, used); err != nil {
				return "", err
			}
			left = append(left, fmt.Sprintf("Role %s, which this restore made, is left on cluster %s because something else still depends on it: %s. Drop it by hand once that is gone.",
				rec.Name, cl.Name(), used))
			continue
		}
		if err := tickets.RoleRecordSet(ctx, d.Pool, rec.ID, tickets.RoleDropped, ""); err != nil {
			return "", err
		}
		dropped = append(dropped, rec.Name)
	}
	var out []string
	if len(dropped) > 0 {
		out = append(out, fmt.Sprintf("Its owner role %s was dropped.", strings.Join(dropped, ", ")))
	}
	return strings.Join(append(out, left...), " "), nil
}
