package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/tickets"
)

// The API's triage verbs: everything a person does on the ticket page, a
// script does here, with the same domain calls and validation. Verbs that
// need no field take an empty body.

func (s *Server) apiTriageRoutes(g *echo.Group) {
	g.POST("/api/v1/tickets/:id/prepare", s.apiTicketPrepare)
	g.POST("/api/v1/tickets/:id/withdraw", s.apiTicketVerb(func(ctx context.Context, s *Server, a tickets.Actor, id int64, _ verbRequest) (tickets.Ticket, error) {
		return tickets.Withdraw(ctx, s.Pool, a, id)
	}))
	g.POST("/api/v1/tickets/:id/submit", s.apiTicketVerb(func(ctx context.Context, s *Server, a tickets.Actor, id int64, _ verbRequest) (tickets.Ticket, error) {
		return tickets.Submit(ctx, s.Pool, a, id)
	}))
	g.POST("/api/v1/tickets/:id/start", s.apiTicketVerb(func(ctx context.Context, s *Server, a tickets.Actor, id int64, _ verbRequest) (tickets.Ticket, error) {
		return tickets.Start(ctx, s.Pool, s.River, a, id)
	}))
	g.POST("/api/v1/tickets/:id/ask", s.apiTicketVerb(func(ctx context.Context, s *Server, a tickets.Actor, id int64, r verbRequest) (tickets.Ticket, error) {
		t, err := tickets.AskForInfo(ctx, s.Pool, a, id, r.Message)
		if err == nil {
			// The requester of a mailed ticket is asked by mail, as from the page.
			_, err = s.River.Insert(ctx, intake.NotifyArgs{TicketID: id, Notice: mail.NoticeNeedsInfo, Problems: []string{r.Message}}, nil)
		}
		return t, err
	}))
	g.POST("/api/v1/tickets/:id/reject", s.apiTicketVerb(func(ctx context.Context, s *Server, a tickets.Actor, id int64, r verbRequest) (tickets.Ticket, error) {
		return tickets.Reject(ctx, s.Pool, a, id, r.reason())
	}))
	g.POST("/api/v1/tickets/:id/assign", s.apiTicketVerb(func(ctx context.Context, s *Server, a tickets.Actor, id int64, r verbRequest) (tickets.Ticket, error) {
		uid := a.UserID
		if r.UserID != nil {
			uid = *r.UserID
		}
		return tickets.Assign(ctx, s.Pool, a, id, uid)
	}))
	g.POST("/api/v1/tickets/:id/notes", s.apiTicketVerb(func(ctx context.Context, s *Server, a tickets.Actor, id int64, r verbRequest) (tickets.Ticket, error) {
		if _, err := tickets.AddEntry(ctx, s.Pool, a, tickets.Entry{TicketID: id, Kind: tickets.EntryNote, Body: r.Body}); err != nil {
			return tickets.Ticket{}, err
		}
		return tickets.TicketGet(ctx, s.Pool, id)
	}))
	g.GET("/api/v1/tickets/:id/thread", s.apiTicketThread)
	g.GET("/api/v1/tokens", s.apiTokenList)
	g.POST("/api/v1/tokens", s.apiTokenCreate)
	g.POST("/api/v1/tokens/:id/revoke", s.apiTokenRevoke)
	g.GET("/api/v1/openapi.json", s.apiOpenAPI)
}

// verbRequest is the body of the small verbs; each reads the fields it needs.
type verbRequest struct {
	// Message: the question (ask) or the reason (reject).
	Message string `json:"message"`
	// Reason is accepted for reject, like cancel's.
	Reason string `json:"reason"`
	// UserID (assign): the assignee; absent means the caller.
	UserID *int64 `json:"user_id"`
	// Body (notes): the note's text.
	Body string `json:"body"`
}

func (r verbRequest) reason() string { return strings.TrimSpace(r.Message + " " + r.Reason) }

type verbFunc func(ctx context.Context, s *Server, a tickets.Actor, id int64, r verbRequest) (tickets.Ticket, error)

// apiTicketVerb is the one shape of the small verbs: id, optional body, the
// domain call, the ticket as it is now.
func (s *Server) apiTicketVerb(f verbFunc) echo.HandlerFunc { return ticketVerb(s, f) }

// ticketVerb is apiTicketVerb for a verb whose body is a T.
func ticketVerb[T any](s *Server, f func(ctx context.Context, s *Server, a tickets.Actor, id int64, r T) (tickets.Ticket, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, req, err := ticketBody[T](c)
		if err != nil {
			return err
		}
		t, err := f(c.Request().Context(), s, s.actor(c), id, req)
		if err != nil {
			return err
		}
		return s.ticketOut(c, http.StatusOK, t)
	}
}

// prepareRequest is the triage: the snapshot, scope (or tables alone), mode,
// the new project's ref and the options.
type prepareRequest struct {
	SnapshotID int64          `json:"snapshot_id"`
	Scope      *tickets.Scope `json:"scope"`
	// Tables is a shorthand for scope {kind: tables, tables: [...]}.
	Tables    []string         `json:"tables"`
	Mode      string           `json:"mode"`
	TargetRef string           `json:"target_ref"`
	Options   *tickets.Options `json:"options"`
	// Undelete is the undelete's limit (keys or filter on one table); a
	// shorthand for options.undelete that keeps the other options.
	Undelete *tickets.UndeleteLimit `json:"undelete"`
}

// apiTicketPrepare saves the triage. Fields left out keep the ticket's
// values (its suggested snapshot, scope, mode and options).
func (s *Server) apiTicketPrepare(c echo.Context) error {
	id, req, err := ticketBody[prepareRequest](c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := tickets.TicketGet(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	p := tickets.Preparation{SnapshotID: cmpOrInt(req.SnapshotID, cur.SnapshotID), Scope: cur.Scope, Mode: cur.Mode, Options: cur.Options}
	switch {
	case req.Scope != nil && len(req.Tables) > 0:
		return &tickets.ValidationError{Field: "tables", Msg: "give either scope or tables, not both"}
	case req.Scope != nil:
		p.Scope = *req.Scope
	case len(req.Tables) > 0:
		p.Scope = tickets.Scope{Kind: tickets.ScopeTables, Tables: req.Tables}
	}
	if req.Mode != "" {
		p.Mode = tickets.Mode(req.Mode)
	}
	if req.Options != nil {
		p.Options = *req.Options
	}
	if req.TargetRef != "" {
		p.Options.TargetRef = strings.TrimSpace(req.TargetRef)
	}
	if req.Undelete != nil {
		p.Options.Undelete = apiUndeleteLimit(*req.Undelete)
	}
	t, err := tickets.Prepare(ctx, s.Pool, s.catalog, s.actor(c), id, p)
	if err != nil {
		return err
	}
	return s.ticketOut(c, http.StatusOK, t)
}

func cmpOrInt(v, def int64) int64 {
	if v != 0 {
		return v
	}
	return def
}

// threadJSON is a ticket's conversation: the entries, the mails the portal
// sent (with their Message-IDs and whether they went out) and the changes
// proposed by mail.
type threadJSON struct {
	Entries   []entryJSON    `json:"entries"`
	Mails     []outboundJSON `json:"mails"`
	Proposals []proposalJSON `json:"proposals"`
}

type entryJSON struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Author    string    `json:"author,omitempty"`
	From      string    `json:"from,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Body      string    `json:"body"`
	MessageID string    `json:"message_id,omitempty"`
	InReplyTo string    `json:"in_reply_to,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

type outboundJSON struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	MessageID string `json:"message_id"`
	InReplyTo string `json:"in_reply_to,omitempty"`
	To        string `json:"to"`
	Subject   string `json:"subject"`
	// Status: pending (not sent yet, retrying), sent, not_sent.
	Status string `json:"status"`
	JobID  int64  `json:"job_id"`
}

type proposalJSON struct {
	ID          int64          `json:"id"`
	EntryID     int64          `json:"entry_id"`
	From        string         `json:"from"`
	Reason      string         `json:"reason"`
	ProjectRef  string         `json:"project_ref,omitempty"`
	RequestedAt *time.Time     `json:"requested_at,omitempty"`
	RequestedTZ string         `json:"requested_tz,omitempty"`
	Scope       *tickets.Scope `json:"scope,omitempty"`
	Mode        tickets.Mode   `json:"mode,omitempty"`
	Status      string         `json:"status"`
	DecidedAt   *time.Time     `json:"decided_at,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
}

func (s *Server) apiTicketThread(c echo.Context) error {
	t, err := s.pathTicket(c)
	if err != nil {
		return err
	}
	ctx, id := c.Request().Context(), t.ID
	entries, err := tickets.EntryListByTicket(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	mails, err := intake.OutboundListByTicket(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	props, err := tickets.ProposalListByTicket(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	out := threadJSON{Entries: []entryJSON{}, Mails: []outboundJSON{}, Proposals: []proposalJSON{}}
	for _, e := range entries {
		out.Entries = append(out.Entries, entryJSON{ID: e.ID, Kind: string(e.Kind), Author: e.AuthorName, From: e.From, Subject: e.Subject,
			Body: e.Body, MessageID: e.MessageID, InReplyTo: e.InReplyTo, CreatedAt: e.CreatedAt})
	}
	for _, m := range mails {
		out.Mails = append(out.Mails, outboundJSON{ID: m.ID, Kind: string(m.Kind), MessageID: m.MessageID, InReplyTo: m.InReplyTo,
			To: m.To, Subject: m.Subject, Status: m.Status, JobID: m.JobID})
	}
	for _, p := range props {
		out.Proposals = append(out.Proposals, proposalJSON{ID: p.ID, EntryID: p.EntryID, From: p.From, Reason: p.Reason, ProjectRef: p.ProjectRef,
			RequestedAt: p.RequestedAt, RequestedTZ: p.RequestedTZ, Scope: p.Scope, Mode: p.Mode, Status: p.Status, DecidedAt: p.DecidedAt,
			CreatedAt: p.CreatedAt})
	}
	return c.JSON(http.StatusOK, out)
}

// tokenJSON is one of the caller's API tokens; the secret is shown only in
// the answer that creates it.
type tokenJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	Secret     string     `json:"secret,omitempty"`
}

func toTokenJSON(t auth.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func (s *Server) apiTokenList(c echo.Context) error {
	list, err := auth.TokenListByUser(c.Request().Context(), s.Pool, currentUser(c).ID)
	if err != nil {
		return err
	}
	out := struct {
		Tokens []tokenJSON `json:"tokens"`
	}{Tokens: []tokenJSON{}}
	for _, t := range list {
		out.Tokens = append(out.Tokens, toTokenJSON(t))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) apiTokenCreate(c echo.Context) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	t, secret, err := auth.CreateToken(c.Request().Context(), s.Pool, s.auditActor(c), currentUser(c).ID, req.Name)
	if err != nil {
		return err
	}
	out := toTokenJSON(t)
	out.Secret = secret
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) apiTokenRevoke(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusNotFound, "no such token")
	}
	if err := auth.RevokeToken(c.Request().Context(), s.Pool, s.auditActor(c), currentUser(c).ID, id); err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("you have no token %d", id))
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
