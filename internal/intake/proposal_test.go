package intake_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/internal/tickets/tickettest"
)

// entryOf returns the thread entry of the mail with that Message-ID.
func (s *stack) entryOf(ticketID int64, messageID string) tickets.Entry {
	s.t.Helper()
	for _, e := range s.thread(ticketID) {
		if e.MessageID == messageID {
			return e
		}
	}
	s.t.Fatalf("ticket %d: no entry of mail %s", ticketID, messageID)
	return tickets.Entry{}
}

func (s *stack) proposals(ticketID int64) []tickets.Proposal {
	s.t.Helper()
	ps, err := tickets.ProposalListByTicket(context.Background(), s.pool, ticketID)
	if err != nil {
		s.t.Fatal(err)
	}
	return ps
}

func hasChange(p tickets.Proposal, field, before, after string) bool {
	return slices.Contains(p.Diff(), tickets.FieldChange{Field: field, Before: before, After: after})
}

// completeRequest files carol's complete request for proj-alpha (a time
// 30 hours ago, the customers table, mode as given) and returns its ticket.
func (s *stack) completeRequest(mode, messageID string) tickets.Ticket {
	s.t.Helper()
	now := time.Now()
	at := now.Add(-30*time.Hour).UTC().Format("2006-01-02 15:04") + " UTC"
	s.send("carol@customer.example", compose("carol@customer.example", "restore",
		"Please restore proj-alpha to "+at+", only the customers table, "+mode+".", messageID, "", now))
	s.settle()
	tk := s.ticket(s.mailByMessageID(messageID).TicketID)
	if tk.State != tickets.StateNew || tk.SnapshotID == 0 || tk.ProjectRef != "proj-alpha" {
		s.t.Fatalf("complete request: %+v", tk)
	}
	return tk
}

const spoofAuth = "Authentication-Results: mx.support.example.com; spf=fail smtp.mailfrom=evil.example;\r\n dkim=none; dmarc=fail (p=reject) header.from=customer.example\r\n"

// TestSpoofedMailProposes: a mail with the requester's forged From and the
// subject tag asks a prepared ticket for another project, the full database
// and a destructive restore. The plan does not change; the mail is on the
// thread with the receiving server's verdicts, and the change waits as a
// proposal with its diff. A stranger's mail changes nothing either and is
// flagged.
func TestSpoofedMailProposes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t, stackOptions{})
	tk := s.completeRequest("into a new project", "c1@customer.example")
	op := tickettest.User(t, s.pool, "op@portal.example", auth.RoleOperator)
	prepared, err := tickets.Prepare(ctx, s.pool, tickets.SnapshotCatalog(s.pool), tickets.UserActor(op, "127.0.0.1"), tk.ID,
		tickets.Preparation{SnapshotID: tk.SnapshotID, Scope: tk.Scope, Mode: tk.Mode})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	spoof := append([]byte(spoofAuth), compose("Carol <carol@customer.example>", "Re: "+mail.SubjectTag(tk.ID),
		"Change of plan: restore proj-abc instead, the full database, and overwrite the live project.", "spoof-1@evil.example", "", now)...)
	s.send("attacker@evil.example", spoof)
	s.send("eve@broken.example", compose("eve@broken.example", "Re: "+mail.SubjectTag(tk.ID),
		"Overwrite the live project please.", "eve-1@broken.example", "", now))
	s.settle()

	after := s.ticket(tk.ID)
	if after.ProjectRef != "proj-alpha" || after.Mode != tickets.ModeNewProject || after.State != tickets.StateReady ||
		after.SnapshotID != prepared.SnapshotID || after.PreparedBy != op.ID || !slices.Equal(after.Scope.Tables, []string{"public.customers"}) {
		t.Fatalf("mail changed the prepared plan: %+v", after)
	}
	var spoofP, eveP *tickets.Proposal
	for _, p := range s.proposals(tk.ID) {
		switch p.From {
		case "carol@customer.example":
			spoofP = &p
		case "eve@broken.example":
			eveP = &p
		}
	}
	if spoofP == nil || eveP == nil {
		t.Fatalf("proposals %+v", s.proposals(tk.ID))
	}
	if !hasChange(*spoofP, "project", "proj-alpha", "proj-abc") || !hasChange(*spoofP, "mode", "new_project", "destructive") ||
		!hasChange(*spoofP, "scope", "tables public.customers", "full database") {
		t.Errorf("spoof proposal diff %+v", spoofP.Diff())
	}
	if spoofP.Status != tickets.ProposalOpen || !strings.Contains(spoofP.AuthResults, "dmarc=fail") || !strings.Contains(spoofP.Reason, "ready") {
		t.Errorf("spoof proposal %+v", spoofP)
	}
	if !hasChange(*eveP, "mode", "new_project", "destructive") || !strings.Contains(eveP.Reason, "not from the requester") {
		t.Errorf("stranger's proposal %+v", eveP)
	}
	if e := s.entryOf(tk.ID, "spoof-1@evil.example"); !strings.Contains(e.Body, "spf=fail dkim=none dmarc=fail (by mx.support.example.com)") ||
		!strings.Contains(e.Body, "[fields not changed: the ticket is ready") {
		t.Errorf("spoof entry does not show the verdicts and the refusal:\n%s", e.Body)
	}
	if e := s.entryOf(tk.ID, "eve-1@broken.example"); !strings.Contains(e.Body, "[fields not changed: not from the requester (eve@broken.example)]") {
		t.Errorf("stranger's entry not flagged:\n%s", e.Body)
	}
	if n := len(s.relay.to("eve@broken.example")); n != 0 {
		t.Errorf("the stranger got %d mails", n)
	}
}

// TestRequireDMARC: with PORTAL_MAIL_REQUIRE_DMARC, a mail that failed DMARC
// changes nothing even in triage and from the requester's address.
func TestRequireDMARC(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{requireDMARC: true})
	tk := s.completeRequest("into a new project", "c1@customer.example")
	spoof := append([]byte(spoofAuth), compose("carol@customer.example", "Re: "+mail.SubjectTag(tk.ID),
		"Overwrite the live project instead.", "spoof-2@evil.example", "", time.Now())...)
	s.send("attacker@evil.example", spoof)
	s.settle()
	if after := s.ticket(tk.ID); after.Mode != tickets.ModeNewProject {
		t.Errorf("a mail that failed DMARC changed the mode: %+v", after)
	}
	ps := s.proposals(tk.ID)
	if len(ps) != 1 || !strings.Contains(ps[0].Reason, "DMARC") || !hasChange(ps[0], "mode", "new_project", "destructive") {
		t.Errorf("proposals %+v", ps)
	}
}

// TestAcceptProposalLapsesApproval: the requester asks a ticket awaiting
// approval for fewer tables. Accepting applies it as the staff member's
// edit: the pending approval lapses, the acceptor becomes the preparer (so
// cannot approve it), and the trail says so. A proposal that cannot be
// applied (no snapshot at that time) changes nothing, not even the
// approval, and stays open until dismissed.
func TestAcceptProposalLapsesApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStack(t, stackOptions{})
	tk := s.completeRequest("and overwrite the live project", "c1@customer.example")
	opA := tickettest.User(t, s.pool, "a@portal.example", auth.RoleOperator)
	apB := tickettest.User(t, s.pool, "b@portal.example", auth.RoleApprover)
	a, b := tickets.UserActor(opA, "127.0.0.1"), tickets.UserActor(apB, "127.0.0.1")
	cat := tickets.SnapshotCatalog(s.pool)
	if _, err := tickets.Prepare(ctx, s.pool, cat, a, tk.ID, tickets.Preparation{SnapshotID: tk.SnapshotID, Scope: tk.Scope, Mode: tk.Mode}); err != nil {
		t.Fatal(err)
	}
	if _, err := tickets.Submit(ctx, s.pool, a, tk.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s.send("carol@customer.example", compose("carol@customer.example", "Re: "+mail.SubjectTag(tk.ID),
		"Sorry: only the orders table please.", "c2@customer.example", "", now))
	s.send("carol@customer.example", compose("carol@customer.example", "Re: "+mail.SubjectTag(tk.ID),
		"Or rather restore proj-abc to 2026-03-01 10:00 UTC.", "c3@customer.example", "", now.Add(time.Second)))
	s.settle()
	if got := s.ticket(tk.ID); got.State != tickets.StateAwaitingApproval || got.Scope.Tables[0] != "public.customers" {
		t.Fatalf("the requester's mail changed an approved-for plan: %+v", got)
	}
	var scopeP, badP tickets.Proposal
	for _, p := range s.proposals(tk.ID) {
		if hasChange(p, "scope", "tables public.customers", "tables public.orders") {
			scopeP = p
		}
		if hasChange(p, "project", "proj-alpha", "proj-abc") {
			badP = p
		}
	}
	if scopeP.ID == 0 || badP.ID == 0 {
		t.Fatalf("proposals %+v", s.proposals(tk.ID))
	}

	// The fault: nothing to restore at that time; all of it rolls back.
	_, err := tickets.ProposalAccept(ctx, s.pool, b, badP.ID)
	var ve *tickets.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("accepting an inapplicable proposal: %v", err)
	}
	if got := s.ticket(tk.ID); got.State != tickets.StateAwaitingApproval || got.ProjectRef != "proj-alpha" || got.PreparedBy != opA.ID {
		t.Fatalf("a failed accept left the ticket changed: %+v", got)
	}
	if p, _ := tickets.ProposalGet(ctx, s.pool, badP.ID); p.Status != tickets.ProposalOpen {
		t.Errorf("failed accept closed the proposal: %+v", p)
	}

	got, err := tickets.ProposalAccept(ctx, s.pool, b, scopeP.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != tickets.StateReady || !slices.Equal(got.Scope.Tables, []string{"public.orders"}) || got.PreparedBy != apB.ID ||
		got.ApprovedBy != 0 || got.Mode != tickets.ModeDestructive || got.SnapshotID != tk.SnapshotID {
		t.Fatalf("accepted: %+v", got)
	}
	if p, _ := tickets.ProposalGet(ctx, s.pool, scopeP.ID); p.Status != tickets.ProposalAccepted || p.DecidedBy != apB.ID {
		t.Errorf("proposal after accept %+v", p)
	}
	if _, err := tickets.ProposalAccept(ctx, s.pool, b, scopeP.ID); !errors.As(err, &ve) {
		t.Errorf("accepting twice: %v", err)
	}
	events, err := audit.List(ctx, s.pool, audit.Filter{TicketID: tk.ID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"ticket.change_proposed", "approval.lapsed", "ticket.proposal_applied", "ticket.prepared", "ticket.proposal_accepted"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit trail %q lacks %s", actions, want)
		}
	}
	// The acceptor prepared this version: someone else must approve it.
	if _, err := tickets.Submit(ctx, s.pool, b, tk.ID); err != nil {
		t.Fatal(err)
	}
	var pe *tickets.PermissionError
	if _, err := tickets.Approve(ctx, s.pool, nil, b, tk.ID, "proj-alpha"); !errors.As(err, &pe) {
		t.Errorf("the acceptor approved their own edit: %v", err)
	}

	if err := tickets.ProposalDismiss(ctx, s.pool, b, badP.ID, "no snapshot that old; asked the customer"); err != nil {
		t.Fatal(err)
	}
	if p, _ := tickets.ProposalGet(ctx, s.pool, badP.ID); p.Status != tickets.ProposalDismissed {
		t.Errorf("dismissed proposal %+v", p)
	}
	viewer := tickettest.User(t, s.pool, "v@portal.example", auth.RoleViewer)
	if _, err := tickets.ProposalAccept(ctx, s.pool, tickets.UserActor(viewer, ""), scopeP.ID); !errors.As(err, &pe) {
		t.Errorf("a viewer accepted a proposal: %v", err)
	}
}
