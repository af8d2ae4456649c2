package mail

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// NoticeKind names a notification the portal sends to a requester.
type NoticeKind string

const (
	NoticeAcknowledged NoticeKind = "acknowledged" // the ticket exists
	NoticeNeedsInfo    NoticeKind = "needs_info"   // fields missing or problems to fix
	NoticeStarted      NoticeKind = "started"      // approved, the restore is running
	NoticeSucceeded    NoticeKind = "succeeded"
	NoticeFailed       NoticeKind = "failed"
)

// NoticeData is everything a notification may show. Zero fields are left
// out of the text.
type NoticeData struct {
	TicketID        int64
	RequesterName   string
	OriginalSubject string // the requester's subject; the answer keeps it after "Re:"
	TicketURL       string // a link for staff-facing copies; leave empty for customers without accounts

	ProjectRef string
	Time       time.Time
	Scope      Scope
	Mode       Mode

	// NeedsInfo: Missing holds field names from Request.Missing, Problems
	// the sentences from Request.Problems and from the portal's own checks
	// (a time before the first snapshot, ...).
	Missing  []string
	Problems []string

	// Started.
	ApprovedBy string

	// Succeeded, new-project mode.
	NewProjectRef string
	NewProjectURL string
	// Succeeded, destructive mode: what was replaced, and how long the
	// previous state is kept for a rollback.
	Replaced   string
	KeptFor    time.Duration
	KeptUntil  time.Time
	Disabled   []string // side effects disabled in the copy (pg_cron jobs, ...)
	SnapshotAt time.Time
	FinishedIn time.Duration

	// Zone is the requester's time zone (the ticket's RequestedTZ): every
	// time in the notice is shown in it, with UTC beside. nil means UTC.
	Zone *time.Location

	// Failed. LiveUnchanged says the live project was not touched, which
	// the safety rules guarantee for a failure before the swap.
	Reason        string
	LiveUnchanged bool
}

// Render writes the subject and the plain-text body of a notification. The
// subject carries SubjectTag so replies find the ticket.
func Render(kind NoticeKind, d NoticeData) (subject, text string, err error) {
	t := noticeTemplates.Lookup(string(kind))
	if t == nil {
		return "", "", fmt.Errorf("mail: no template for notice %q", kind)
	}
	if d.Zone != nil {
		for _, at := range []*time.Time{&d.Time, &d.KeptUntil, &d.SnapshotAt} {
			if !at.IsZero() {
				*at = at.In(d.Zone)
			}
		}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return "", "", fmt.Errorf("mail: render %s: %w", kind, err)
	}
	title := noticeTitles[kind]
	if s := cleanSubject(d.OriginalSubject); s != "" {
		title = "Re: " + s
	}
	return oneLine(SubjectTag(d.TicketID) + " " + title), squeezeText(buf.String(), 1) + "\n", nil
}

var noticeTitles = map[NoticeKind]string{
	NoticeAcknowledged: "We received your restore request",
	NoticeNeedsInfo:    "We need a little more information",
	NoticeStarted:      "Your restore has started",
	NoticeSucceeded:    "Your restore is done",
	NoticeFailed:       "Your restore failed",
}

var noticeTemplates = template.Must(template.New("notices").Funcs(template.FuncMap{
	"label": FieldLabel,
	"when":  when,
	"days":  humanDuration,
	"modeText": func(m Mode) string {
		switch m {
		case ModeDestructive:
			return "overwrite the live project (the current state is kept aside for a rollback)"
		case ModeNewProject:
			return "restore into a new project (the live project is not touched)"
		case ModeUndelete:
			return undeleteModeText
		}
		return ""
	},
	"join": strings.Join,
	// sentence ends s with one full stop.
	"sentence": func(s string) string {
		s = strings.TrimSpace(s)
		if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
			return s
		}
		return s + "."
	},
}).Parse(`
{{- define "greeting"}}Hello{{with .RequesterName}} {{.}}{{end}},
{{end}}

{{- define "summary"}}
{{- with .ProjectRef}}  Project:  {{.}}
{{end}}
{{- if not .Time.IsZero}}  Time:     {{when .Time}}
{{end}}
{{- with .Scope.String}}  Restore:  {{.}}
{{end}}
{{- with modeText .Mode}}  How:      {{.}}
{{end}}
{{- end}}

{{- define "footer"}}
Reply to this mail to add anything; keep {{printf "[Restore #%d]" .TicketID}} in the subject.
{{- with .TicketURL}}
Ticket: {{.}}{{end}}

-- 
Restore portal (this mail was sent automatically)
{{end}}

{{- define "acknowledged"}}{{template "greeting" .}}
We received your restore request and opened ticket #{{.TicketID}}.

What we understood so far:
{{template "summary" .}}
{{- if or .Missing .Problems}}
We will write again shortly about what is still unclear.
{{- else}}
An engineer will check the request and confirm before anything is changed.
{{- end}}
{{template "footer" .}}{{end}}

{{- define "needs_info"}}{{template "greeting" .}}
To restore your data safely we need a little more information about ticket #{{.TicketID}}.
{{- with .Problems}}

{{range .}}- {{.}}
{{end}}
{{- end}}
{{- with .Missing}}

Please tell us:
{{range .}}- {{label .}}
{{end}}
{{- end}}
{{- if or .ProjectRef (not .Time.IsZero) .Scope.String .Mode}}
What we have so far:
{{template "summary" .}}
{{- end}}
{{template "footer" .}}{{end}}

{{- define "started"}}{{template "greeting" .}}
Your restore (ticket #{{.TicketID}}) was approved{{with .ApprovedBy}} by {{.}}{{end}} and has started.

{{template "summary" .}}
{{- if not .SnapshotAt.IsZero}}  Snapshot: {{when .SnapshotAt}}
{{end}}
We will write again when it is done.
{{template "footer" .}}{{end}}

{{- define "succeeded"}}{{template "greeting" .}}
Your restore (ticket #{{.TicketID}}) is done{{if .FinishedIn}} after {{days .FinishedIn}}{{end}}.

{{template "summary" .}}
{{- if not .SnapshotAt.IsZero}}  Snapshot: {{when .SnapshotAt}}
{{end}}
{{- if .NewProjectRef}}
The restored data is in a new project: {{.NewProjectRef}}{{with .NewProjectURL}}
  {{.}}{{end}}
Your live project was not changed; copy what you need from the new one.
{{- end}}
{{- if .Replaced}}
We replaced {{.Replaced}} with the restored copy.
{{- if .KeptFor}}
The previous state is kept for {{days .KeptFor}}{{if not .KeptUntil.IsZero}} (until {{when .KeptUntil}}){{end}}; reply to this mail within that time if you want it back.
{{- else if not .KeptUntil.IsZero}}
The previous state is kept until {{when .KeptUntil}}; reply to this mail before then if you want it back.
{{- end}}
{{- end}}
{{- with .Disabled}}

So that the copy does not repeat the original's side effects, we disabled:
{{range .}}- {{.}}
{{end}}
{{- end}}
{{template "footer" .}}{{end}}

{{- define "failed"}}{{template "greeting" .}}
Your restore (ticket #{{.TicketID}}) failed{{with .Reason}}: {{sentence .}}{{else}}.{{end}}

{{template "summary" .}}
{{- if .LiveUnchanged}}
Your live project was not changed.
{{- end}}
An engineer is looking at it and will write to you. You do not need to do anything now.
{{template "footer" .}}{{end}}
`))

// when writes a time as people read it, in its own zone; a time not in UTC
// has its UTC time beside it ("Monday 30 November 2026, 14:15 PST (22:15
// UTC)"), the date too when UTC's day is another.
func when(t time.Time) string {
	s := t.Format("Monday 2 January 2006, 15:04 MST")
	if _, off := t.Zone(); off == 0 && (t.Location() == time.UTC || t.Location().String() == "UTC") {
		return s
	}
	u := t.UTC()
	if u.YearDay() != t.YearDay() || u.Year() != t.Year() {
		return s + " (" + u.Format("2 January 15:04 UTC") + ")"
	}
	return s + " (" + u.Format("15:04 UTC") + ")"
}

// humanDuration writes "7 days", "3 hours", "12 minutes".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d/time.Second), "second")
}
