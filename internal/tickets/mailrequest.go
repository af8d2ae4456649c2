package tickets

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// MailRequest is what mail intake understood of an email ticket's request,
// after a requester's mail: the fields to set and whether something is still
// to be asked.
type MailRequest struct {
	ProjectRef  string     // empty: unknown, left as it is
	RequestedAt *time.Time // nil: unknown, left as it is
	RequestedTZ string
	Scope       Scope // zero: left as it is
	Mode        Mode  // empty: left as it is
	// NeedsInfo puts the ticket in needs_info (the requester was asked);
	// false puts a needs_info ticket back to new, for triage.
	NeedsInfo bool
	// Note is a system thread entry saying how each field was found.
	Note string
}

// UpdateFromMail applies what intake understood from the requester's mail to
// an email ticket still in triage (new or needs_info). For a ticket past
// triage it changes nothing and returns the ticket as it is: staff decide.
// Invalid values (a malformed ref or table) are left out, not refused, since
// the mail is already stored and the reply asks again.
func UpdateFromMail(ctx context.Context, db DB, a Actor, id int64, r MailRequest) (Ticket, error) {
	return change(ctx, db, a, id, "ticket.updated_from_mail", func(tx pgx.Tx, t *Ticket) error {
		if t.State != StateNew && t.State != StateNeedsInfo {
			return nil
		}
		before := planOf(*t)
		if ref := strings.ToLower(strings.TrimSpace(r.ProjectRef)); projectRef.MatchString(ref) {
			if ref != t.ProjectRef {
				t.SnapshotID = 0 // a suggestion for another project
			}
			t.ProjectRef = ref
		}
		if r.RequestedAt != nil && !r.RequestedAt.After(time.Now().Add(5*time.Minute)) {
			if t.RequestedAt == nil || !t.RequestedAt.Equal(*r.RequestedAt) {
				t.SnapshotID = 0 // a suggestion for another time; staff pick
			}
			t.RequestedAt = r.RequestedAt
			if tz := strings.TrimSpace(r.RequestedTZ); tz != "" {
				if _, err := time.LoadLocation(tz); err == nil {
					t.RequestedTZ = tz
				}
			}
		}
		if r.Scope.Kind != "" {
			if s, err := validateScope(r.Scope); err == nil {
				t.Scope = s
			}
		}
		if m, err := ParseMode(string(r.Mode)); err == nil {
			t.Mode = m
		}
		if t.SnapshotID == 0 && t.RequestedAt != nil && t.ProjectRef != "" {
			// Re-resolve the suggestion, as Create does: a reply that
			// completes a request keeps a snapshot to confirm.
			if snap, ok, _, err := SnapshotCatalog(tx).SnapshotsNear(ctx, t.ProjectRef, *t.RequestedAt, 0); err == nil && ok && snap.Usable {
				t.SnapshotID = snap.ID
			}
		}
		switch {
		case r.NeedsInfo && t.State == StateNew:
			t.State = StateNeedsInfo
		case !r.NeedsInfo && t.State == StateNeedsInfo:
			t.State = StateNew
		}
		note := strings.TrimSpace(r.Note)
		if d := diff(before, Proposal{ProjectRef: t.ProjectRef, RequestedAt: t.RequestedAt, RequestedTZ: t.RequestedTZ,
			Scope: &t.Scope, Mode: t.Mode}); len(d) > 0 && note != "" {
			// Say plainly what this mail changed of what was known: a
			// request rewritten by mail must show.
			var parts []string
			for _, c := range d {
				if c.Before == "" {
					continue
				}
				parts = append(parts, fmt.Sprintf("%s %s -> %s", c.Field, c.Before, c.After))
			}
			if len(parts) > 0 {
				note += "\nChanged by this mail: " + strings.Join(parts, "; ") + "."
			}
		}
		if note != "" {
			if _, err := entryInsert(ctx, tx, Entry{TicketID: t.ID, Kind: EntrySystem, Subject: "understood from mail", Body: note}); err != nil {
				return err
			}
		}
		return nil
	})
}
