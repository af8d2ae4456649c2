package tickets

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/auth"
)

// RequestEdit is staff's correction of what a requester asked: the project
// and the time of the state wanted (mail often names neither exactly).
type RequestEdit struct {
	ProjectRef  string
	RequestedAt *time.Time // nil: none
	RequestedTZ string     // empty: UTC
}

// EditRequest corrects the request of a ticket still in triage (new or
// needs info). A changed project or time drops the chosen snapshot and
// suggests the one the catalog resolves, as Create does.
func EditRequest(ctx context.Context, db DB, cat Catalog, a Actor, id int64, e RequestEdit) (Ticket, error) {
	if err := a.require(auth.RoleOperator, "editing a request"); err != nil {
		return Ticket{}, err
	}
	ref := strings.ToLower(strings.TrimSpace(e.ProjectRef))
	if !projectRef.MatchString(ref) {
		return Ticket{}, &ValidationError{Field: "project_ref", Msg: fmt.Sprintf("%q is not a project ref (lower-case letters, digits and dashes)", e.ProjectRef)}
	}
	if ok, err := projectExists(ctx, db, ref); err != nil {
		return Ticket{}, err
	} else if !ok {
		return Ticket{}, &ValidationError{Field: "project_ref", Msg: fmt.Sprintf("no project %q is known to the portal", ref)}
	}
	tz := cmpOr(strings.TrimSpace(e.RequestedTZ), "UTC")
	if _, err := time.LoadLocation(tz); err != nil {
		return Ticket{}, &ValidationError{Field: "requested_tz", Msg: fmt.Sprintf("%q is not a time zone such as Europe/Berlin", tz)}
	}
	if e.RequestedAt != nil && e.RequestedAt.After(time.Now().Add(5*time.Minute)) {
		return Ticket{}, &ValidationError{Field: "requested_at", Msg: "is in the future; a restore can only go back in time"}
	}
	var suggested int64
	if cat != nil && e.RequestedAt != nil {
		if snap, ok, _, err := cat.SnapshotsNear(ctx, ref, *e.RequestedAt, 0); err == nil && ok && snap.Usable {
			suggested = snap.ID
		}
	}
	return change(ctx, db, a, id, "ticket.request_edited", func(tx pgx.Tx, t *Ticket) error {
		if t.State != StateNew && t.State != StateNeedsInfo {
			return &ValidationError{Field: "state", Msg: "the request can only be corrected in triage (new or needs info)"}
		}
		same := t.ProjectRef == ref && ((t.RequestedAt == nil) == (e.RequestedAt == nil)) &&
			(t.RequestedAt == nil || t.RequestedAt.Equal(*e.RequestedAt))
		t.ProjectRef, t.RequestedAt, t.RequestedTZ = ref, e.RequestedAt, tz
		if !same {
			t.SnapshotID = suggested
		}
		return nil
	})
}
