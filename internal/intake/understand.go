package intake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// refCache keeps the catalog's project refs for a little while: a burst of
// mail should not list the projects once per mail.
type refCache struct {
	mu   sync.Mutex
	refs []string
	at   time.Time
}

const refCacheTTL = 15 * time.Second

func (c *refCache) get(ctx context.Context, db snapshots.DB, now time.Time) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs != nil && now.Sub(c.at) < refCacheTTL && now.After(c.at) {
		return c.refs, nil
	}
	list, _, err := snapshots.ProjectList(ctx, db, snapshots.ProjectListParams{Limit: 100000, Now: now})
	if err != nil {
		return nil, fmt.Errorf("known project refs: %w", err)
	}
	refs := make([]string, 0, len(list))
	for _, p := range list {
		refs = append(refs, p.Ref)
	}
	c.refs, c.at = refs, now
	return refs, nil
}

// understood is a request and what the portal's own checks add to it.
type understood struct {
	Request mail.Request
	// Missing are the fields to ask for (Request.Missing plus the portal's
	// checks, such as a time before the first snapshot).
	Missing []string
	// Problems are the sentences of the reply: the request's and the
	// portal's.
	Problems []string
}

// understand reads msg's request with the catalog's refs and, once a known
// ref is found (in the mail, else fallbackRef, the ticket's), with the
// inventory of that project's latest verified snapshot.
func (p *processor) understand(ctx context.Context, msg *mail.Message, fallbackRef string) (mail.Request, error) {
	refs, err := p.d.refs.get(ctx, p.tx, p.now())
	if err != nil {
		return mail.Request{}, err
	}
	opts := mail.UnderstandOptions{KnownRefs: refs, Now: p.now()}
	req := mail.Understand(msg, opts)
	ref := fallbackRef
	if usable(req.ProjectRef.Confidence) {
		ref = req.ProjectRef.Value
	}
	if ref == "" || !slices.Contains(refs, ref) {
		return req, nil
	}
	tables, err := p.latestTables(ctx, ref)
	if err != nil || len(tables) == 0 {
		return req, err
	}
	opts.Tables = tables
	return mail.Understand(msg, opts), nil
}

// latestTables is the inventory ("schema.table") of ref's latest verified
// snapshot; none when it has no verified snapshot yet.
func (p *processor) latestTables(ctx context.Context, ref string) ([]string, error) {
	now := p.now()
	res, err := snapshots.Resolve(ctx, p.tx, ref, now, now)
	if err != nil {
		return nil, fmt.Errorf("latest snapshot of %s: %w", ref, err)
	}
	if res.Situation != snapshots.Resolved || res.Snapshot == nil {
		return nil, nil
	}
	inv, err := snapshots.SnapshotTables(ctx, p.tx, res.Snapshot.ID)
	if err != nil {
		return nil, fmt.Errorf("inventory of snapshot %d: %w", res.Snapshot.ID, err)
	}
	out := make([]string, 0, len(inv))
	for _, t := range inv {
		out = append(out, t.Schema+"."+t.Name)
	}
	return out, nil
}

// check adds the portal's own checks to a request: the time must fall
// within the project's snapshots.
func (p *processor) check(ctx context.Context, req mail.Request) (understood, error) {
	u := understood{Request: req, Missing: req.Missing(), Problems: slices.Clone(req.Problems)}
	if !usable(req.ProjectRef.Confidence) || !usable(req.Time.Confidence) {
		return u, nil
	}
	ref, at, now := req.ProjectRef.Value, req.Time.Value, p.now()
	res, err := snapshots.Resolve(ctx, p.tx, ref, at, now)
	if err != nil {
		return u, fmt.Errorf("resolve %s at %s: %w", ref, at, err)
	}
	switch res.Situation {
	case snapshots.BeforeFirst:
		first := "the first snapshot"
		if res.Next != nil && res.Next.TakenAt != nil {
			first = res.Next.TakenAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		u.Problems = append(u.Problems, fmt.Sprintf("%s is before the first snapshot of %s; the earliest state we can restore is %s",
			at.Format("2006-01-02 15:04 MST"), ref, first))
		u.Missing = addField(u.Missing, mail.FieldTime)
	case snapshots.InFuture:
		u.Problems = append(u.Problems, fmt.Sprintf("%s is in the future; a restore can only go back in time", at.Format("2006-01-02 15:04 MST")))
		u.Missing = addField(u.Missing, mail.FieldTime)
	case snapshots.NoSnapshot:
		u.Problems = append(u.Problems, fmt.Sprintf("%s has no verified snapshot yet; our staff will look into it", ref))
	}
	return u, nil
}

// addField adds a field name keeping mail's order of fields.
func addField(fields []string, f string) []string {
	if slices.Contains(fields, f) {
		return fields
	}
	fields = append(fields, f)
	order := []string{mail.FieldProjectRef, mail.FieldTime, mail.FieldScope, mail.FieldMode}
	slices.SortStableFunc(fields, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
	return fields
}

// usable says whether a field's value may be written on the ticket.
func usable(c mail.Confidence) bool {
	return c == mail.Certain || c == mail.Likely || c == mail.Guess
}

// mailRequest is what of u goes on the ticket.
func (p *processor) mailRequest(u understood, note string) tickets.MailRequest {
	r := u.Request
	out := tickets.MailRequest{NeedsInfo: len(u.Missing) > 0, Note: note}
	if usable(r.ProjectRef.Confidence) {
		out.ProjectRef = r.ProjectRef.Value
	}
	if usable(r.Time.Confidence) && !r.Time.Value.After(p.now()) {
		at := r.TimeIn()
		out.RequestedAt = &at
		out.RequestedTZ = zoneName(at)
	}
	if usable(r.Scope.Confidence) {
		out.Scope = ticketScope(r.Scope.Value)
	}
	if usable(r.Mode.Confidence) {
		out.Mode = tickets.Mode(r.Mode.Value)
	}
	return out
}

// zoneName is the IANA name of t's zone when it has one ("UTC" otherwise:
// a fixed offset such as -0500 is kept in the time itself).
func zoneName(t time.Time) string {
	name := t.Location().String()
	if name == "" || name == "Local" {
		return "UTC"
	}
	if _, err := time.LoadLocation(name); err != nil {
		return "UTC"
	}
	return name
}

func ticketScope(s mail.Scope) tickets.Scope {
	if s.Full || len(s.Tables) == 0 {
		return tickets.Scope{Kind: tickets.ScopeFull}
	}
	return tickets.Scope{Kind: tickets.ScopeTables, Tables: slices.Clone(s.Tables)}
}

// note is the system thread entry that shows staff how each field was
// understood, how sure intake is, and what the requester is asked.
func note(u understood, msg *mail.Message, heading string) string {
	var b strings.Builder
	b.WriteString(heading + "\n")
	r := u.Request
	line := func(label, value string, c mail.Confidence, source string, cands []string) {
		if c == "" {
			c = mail.Missing
		}
		fmt.Fprintf(&b, "- %s: ", label)
		if value != "" && c != mail.Missing {
			b.WriteString(value + " ")
		}
		fmt.Fprintf(&b, "(%s", c)
		if source != "" {
			fmt.Fprintf(&b, "; %s", source)
		}
		if len(cands) > 0 {
			fmt.Fprintf(&b, "; candidates: %s", strings.Join(cands, ", "))
		}
		b.WriteString(")\n")
	}
	line("Project", r.ProjectRef.Value, r.ProjectRef.Confidence, r.ProjectRef.Source, r.ProjectRef.Candidates)
	timeValue := ""
	if !r.Time.Value.IsZero() {
		timeValue = r.Time.Value.Format("2006-01-02 15:04 MST")
	}
	var timeCands []string
	for _, c := range r.Time.Candidates {
		timeCands = append(timeCands, c.Format("2006-01-02 15:04 MST"))
	}
	line("Time", timeValue, r.Time.Confidence, r.Time.Source, timeCands)
	var scopeCands []string
	for _, c := range r.Scope.Candidates {
		scopeCands = append(scopeCands, c.String())
	}
	scopeValue := ""
	if r.Scope.Value.Full || len(r.Scope.Value.Tables) > 0 {
		scopeValue = r.Scope.Value.String()
	}
	line("Scope", scopeValue, r.Scope.Confidence, r.Scope.Source, scopeCands)
	var modeCands []string
	for _, c := range r.Mode.Candidates {
		modeCands = append(modeCands, string(c))
	}
	line("Mode", string(r.Mode.Value), r.Mode.Confidence, r.Mode.Source, modeCands)
	if len(u.Problems) > 0 {
		b.WriteString("Problems:\n")
		for _, p := range u.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	if msg != nil && len(msg.Problems) > 0 {
		b.WriteString("What could not be read in the mail:\n")
		for _, p := range msg.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	if len(u.Missing) > 0 {
		var labels []string
		for _, f := range u.Missing {
			labels = append(labels, mail.FieldLabel(f))
		}
		fmt.Fprintf(&b, "The requester is asked for: %s.\n", strings.Join(labels, "; "))
	} else {
		b.WriteString("Every field is known: ready for triage.\n")
	}
	return b.String()
}
