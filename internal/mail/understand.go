package mail

import (
	"fmt"
	netmail "net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Confidence says how sure Understand is of a field.
type Confidence string

const (
	// Certain: stated exactly (an ISO time with its zone, a known ref).
	Certain Confidence = "certain"
	// Likely: stated clearly but interpreted ("May 3 at 2pm PST", "overwrite").
	Likely Confidence = "likely"
	// Guess: inferred ("this morning", "yesterday" without a time).
	Guess Confidence = "guess"
	// Missing: not found at all.
	Missing Confidence = "missing"
	// Ambiguous: more than one different answer was found.
	Ambiguous Confidence = "ambiguous"
	// Invalid: an answer was found but does not exist (an unknown ref or
	// table); Request.Problems names it with the closest valid choices.
	Invalid Confidence = "invalid"
)

// NeedsAsking reports whether the requester must be asked for the field.
func (c Confidence) NeedsAsking() bool {
	return c == Missing || c == Ambiguous || c == Invalid || c == ""
}

// Field is one understood value with where it was found and how sure we are.
// Source reads like "subject" or "body line 3: 'restore proj-abc to
// yesterday 3pm'". Candidates lists the competing values of an ambiguous
// field, to show in the reply.
type Field[T any] struct {
	Value      T
	Source     string
	Confidence Confidence
	Candidates []T
	// Problems about this field, to name in the reply; Request.Problems
	// holds them all.
	Problems []string
}

// Names of the request's fields, as Request.Missing returns them.
const (
	FieldProjectRef = "project_ref"
	FieldTime       = "time"
	FieldScope      = "scope"
	FieldMode       = "mode"
)

// FieldLabel is the name of a field a requester reads in a reply.
func FieldLabel(name string) string {
	switch name {
	case FieldProjectRef:
		return "the project ref"
	case FieldTime:
		return "the time to restore to"
	case FieldScope:
		return "what to restore (the full database, or which tables)"
	case FieldMode:
		return "how to restore (overwrite the live project, or into a new project)"
	}
	return name
}

// Scope is what to restore: the full database, or named tables.
type Scope struct {
	Full   bool
	Tables []string // schema.table when resolved against the inventory, else as written
}

// String reads "full database" or "tables public.orders, auth.users".
func (s Scope) String() string {
	switch {
	case s.Full:
		return "full database"
	case len(s.Tables) == 1:
		return "table " + s.Tables[0]
	case len(s.Tables) > 1:
		return "tables " + strings.Join(s.Tables, ", ")
	}
	return ""
}

// Mode is how to restore.
type Mode string

const (
	// ModeDestructive overwrites the live project (kept aside for rollback).
	ModeDestructive Mode = "destructive"
	// ModeNewProject restores into a new project; the live one is untouched.
	ModeNewProject Mode = "new_project"
)

// Request is what Understand read from a mail.
type Request struct {
	ProjectRef Field[string]
	// Time is the state to restore to. For a day without a time of day
	// ("yesterday", "5/3/2026") Value is the start of that day in the
	// mail's zone, Confidence is Guess and Source says so: staff pick the
	// snapshot.
	Time Field[time.Time]
	// TimeZone is the IANA zone Time was written in ("America/Los_Angeles"
	// for "2:15pm PST"); empty for UTC or a bare offset. It is kept apart
	// because a time.Time stored as JSON keeps only its offset.
	TimeZone string `json:"time_zone,omitempty"`
	Scope    Field[Scope]
	Mode     Field[Mode]

	// Problems are to be named in the reply, e.g. "We could not find
	// project proj-abd; please check the ref." They never name a project
	// the requester did not write; the closest known refs of an unknown one
	// are ProjectRef.Candidates, for staff.
	Problems []string
}

// Missing lists the fields (FieldProjectRef, ...) that are missing,
// ambiguous or invalid, in a fixed order: the ones the reply asks for.
func (r Request) Missing() []string {
	var out []string
	if r.ProjectRef.Confidence.NeedsAsking() {
		out = append(out, FieldProjectRef)
	}
	if r.Time.Confidence.NeedsAsking() {
		out = append(out, FieldTime)
	}
	if r.Scope.Confidence.NeedsAsking() {
		out = append(out, FieldScope)
	}
	if r.Mode.Confidence.NeedsAsking() {
		out = append(out, FieldMode)
	}
	return out
}

// DefaultRefPattern matches the platform's project refs: "proj-" and a
// lowercase word ("proj-abc", "proj-alpha"), or 20 lowercase letters.
var DefaultRefPattern = regexp.MustCompile(`\b(proj-[a-z0-9]+(?:-[a-z0-9]+)*|[a-z]{20})\b`)

// UnderstandOptions tune Understand. The zero value works.
type UnderstandOptions struct {
	// RefPattern matches a project ref; the first submatch, if any, is the
	// ref, else the whole match. Nil means DefaultRefPattern.
	RefPattern *regexp.Regexp
	// KnownRefs are the valid refs. When given, an unknown ref is reported
	// with the closest of these. Pass only refs the requester may know
	// about (their organisation's), or the reply could name other
	// customers' projects.
	KnownRefs []string
	// Tables is the project's inventory as "schema.table"; bare table names
	// are resolved against it and unknown ones reported with the closest.
	Tables []string
	// Now is the reference time when the mail has no Date header; zero means
	// time.Now().
	Now time.Time
}

// line is one piece of text Understand reads, with where it came from.
type line struct {
	text   string
	source string
	// ref, when set, is the time relative times on this line are read
	// against: the Date of a forwarded mail, for its lines.
	ref time.Time
}

func (l line) describe() string {
	return fmt.Sprintf("%s: '%s'", l.source, truncate(strings.TrimSpace(l.text), 80))
}

// Understand extracts a restore request from the subject and the body of
// msg (its quoted history and signature stripped). Times are read relative
// to the mail's Date header, in its time zone.
func Understand(msg *Message, opts UnderstandOptions) Request {
	var r Request
	if msg == nil {
		msg = &Message{}
	}
	ref := cmpOr(opts.Now, time.Now())
	if !msg.Date.IsZero() {
		ref = msg.Date
	}
	lines := requestLines(msg, ref)

	var refP, timeP, scopeP []string
	r.ProjectRef = findRef(lines, opts, &refP)
	r.ProjectRef.Problems = refP
	r.Time = findTime(lines, ref, &timeP)
	if name := r.Time.Value.Location().String(); strings.Contains(name, "/") {
		r.TimeZone = name
	}
	r.Time.Problems = timeP
	if msg.Date.IsZero() && r.Time.Confidence != Missing && r.Time.Confidence != Certain {
		r.Time.Source += " (the mail had no readable Date: read relative to " + ref.Format("2006-01-02 15:04 MST") + ")"
	}
	r.Scope = findScope(lines, opts, &scopeP)
	r.Scope.Problems = scopeP
	r.Mode = findMode(lines)
	r.collectProblems()
	return r
}

func (r *Request) collectProblems() {
	r.Problems = nil
	for _, p := range [][]string{r.ProjectRef.Problems, r.Time.Problems, r.Scope.Problems, r.Mode.Problems} {
		r.Problems = append(r.Problems, p...)
	}
}

// Update merges what a reply in the same thread says into r: each field
// the reply speaks about (anything but missing) replaces the earlier one,
// even when the reply is less sure, because the requester's latest word
// wins and an unclear one must be asked about again. Fields the reply does
// not mention, and their problems, are kept.
func (r Request) Update(newer Request) Request {
	update(&r.ProjectRef, newer.ProjectRef)
	if newer.Time.Confidence != Missing && newer.Time.Confidence != "" {
		r.Time, r.TimeZone = newer.Time, newer.TimeZone
	}
	update(&r.Scope, newer.Scope)
	update(&r.Mode, newer.Mode)
	r.collectProblems()
	return r
}

// TimeIn is Time's value in its TimeZone, when there is one.
func (r Request) TimeIn() time.Time {
	if r.TimeZone != "" {
		if loc, err := time.LoadLocation(r.TimeZone); err == nil {
			return r.Time.Value.In(loc)
		}
	}
	return r.Time.Value
}

func update[T any](old *Field[T], newer Field[T]) {
	if newer.Confidence != Missing && newer.Confidence != "" {
		*old = newer
	}
}

func cmpOr(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// requestLines is the subject (without Re:/Fwd: and our tag) and the
// stripped body, one entry a line, with bounded size.
func requestLines(msg *Message, ref time.Time) []line {
	const maxLines, maxLineLen = 400, 1000
	var out []line
	if s := smartQuotes.Replace(cleanSubject(msg.Subject)); s != "" {
		out = append(out, line{text: truncateBytes(s, maxLineLen), source: "subject"})
	}
	fwd := reFwdSubject.MatchString(msg.Subject)
	body := smartQuotes.Replace(stripQuoted(msg.Text, fwd))
	inFwdHeader := false
	var fwdRef time.Time
	for i, l := range strings.Split(body, "\n") {
		if len(out) >= maxLines {
			break
		}
		t := strings.TrimSpace(l)
		if t == "" {
			inFwdHeader = false
			continue
		}
		if reForwarded.MatchString(t) || fwd && (reOriginal.MatchString(t) || reUnderscores.MatchString(t) || reHeaderLine.MatchString(t)) {
			inFwdHeader = true
			if !reHeaderLine.MatchString(t) {
				continue
			}
		}
		if inFwdHeader && reFwdHeaderSkip.MatchString(t) {
			// The forwarded mail's own Date is not the requested time, but
			// its "yesterday" is relative to it.
			if k, v, _ := strings.Cut(t, ":"); reFwdDateKey.MatchString(k) {
				if d, ok := forwardedDate(v, ref); ok {
					fwdRef = d
				}
			}
			continue
		}
		out = append(out, line{text: truncateBytes(l, maxLineLen), source: fmt.Sprintf("body line %d", i+1), ref: fwdRef})
	}
	return out
}

// smartQuotes turns typographic quotes and dashes into ASCII, so "don’t"
// and “users” read like "don't" and "users".
var smartQuotes = strings.NewReplacer("\u2018", "'", "\u2019", "'", "\u201c", `"`, "\u201d", `"`, "\u00ab", `"`, "\u00bb", `"`, "\u2013", "-", "\u2014", "-", "\u00a0", " ", "\u202f", " ")

func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

var reFwdHeaderSkip = regexp.MustCompile(`(?i)^\*?(date|sent|from|to|cc|gesendet|envoyé|datum|von|an|de|para|enviado)\*?\s*:`)

var reFwdDateKey = regexp.MustCompile(`(?i)^\*?(date|sent|gesendet|envoyé|datum|enviado)\*?$`)

// forwardedDate reads the Date line of a forwarded mail's header, as mail
// clients write it ("Sun, May 3, 2026 at 6:02 PM", "Friday, May 1, 2026
// 9:00 AM", or RFC 5322), in the zone of the forwarding mail.
func forwardedDate(v string, ref time.Time) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if d, err := netmail.ParseDate(v); err == nil {
		return d, true
	}
	for _, f := range timesInLine(line{text: v}, ref) {
		if f.conf == Likely || f.conf == Certain {
			return f.value, true
		}
	}
	return time.Time{}, false
}

var reFwdSubject = regexp.MustCompile(`(?i)^\s*(re:\s*)*(fwd?|wg|tr|rv)\s*:`)

var reSubjectPrefix = regexp.MustCompile(`(?i)^\s*((re|fwd?|aw|wg|tr|sv|vs)\s*(\[\d+\])?\s*:\s*)+`)

// cleanSubject drops reply and forward prefixes and our own ticket tag.
func cleanSubject(s string) string {
	s = reSubjectTag.ReplaceAllString(s, " ")
	s = reSubjectPrefix.ReplaceAllString(s, "")
	return strings.TrimSpace(s)
}

// found is one value seen on one line.
type found[T any] struct {
	value T
	key   string // what makes two values the same
	line  line
	conf  Confidence
	score int    // how well the context says "this is what to restore"
	note  string // added to the source, e.g. " (09:00 assumed)"
}

// decide turns the values seen into a field: none is missing, one distinct
// value keeps its confidence (raised to certain when seen twice at likely),
// several distinct values are ambiguous unless the best scored one stands
// out.
func decide[T any](fs []found[T]) Field[T] {
	if len(fs) == 0 {
		return Field[T]{Confidence: Missing}
	}
	var distinct []found[T]
	for _, f := range fs {
		i := slices.IndexFunc(distinct, func(d found[T]) bool { return d.key == f.key })
		if i < 0 {
			distinct = append(distinct, f)
			continue
		}
		d := &distinct[i]
		if rank(f.conf) > rank(d.conf) {
			d.conf = f.conf
		} else if f.conf == Likely && d.conf == Likely {
			d.conf = Certain
		}
		d.score = max(d.score, f.score)
	}
	if len(distinct) == 1 {
		d := distinct[0]
		return Field[T]{Value: d.value, Source: d.line.describe() + d.note, Confidence: d.conf}
	}
	slices.SortStableFunc(distinct, func(a, b found[T]) int { return b.score - a.score })
	if distinct[0].score > distinct[1].score {
		d := distinct[0]
		return Field[T]{Value: d.value, Source: d.line.describe() + d.note, Confidence: min2(d.conf, Likely)}
	}
	f := Field[T]{Confidence: Ambiguous, Value: distinct[0].value, Source: distinct[0].line.describe()}
	for _, d := range distinct {
		f.Candidates = append(f.Candidates, d.value)
	}
	return f
}

func rank(c Confidence) int {
	switch c {
	case Certain:
		return 3
	case Likely:
		return 2
	case Guess:
		return 1
	}
	return 0
}

func min2(a, b Confidence) Confidence {
	if rank(a) < rank(b) {
		return a
	}
	return b
}

// --- project ref ---

func findRef(lines []line, opts UnderstandOptions, problems *[]string) Field[string] {
	re := opts.RefPattern
	if re == nil {
		re = DefaultRefPattern
	}
	known := make(map[string]string, len(opts.KnownRefs))
	for _, k := range opts.KnownRefs {
		known[strings.ToLower(k)] = k
	}
	// Known refs the pattern does not match are looked for as words.
	var odd []string
	for _, k := range opts.KnownRefs {
		if !re.MatchString(k) {
			odd = append(odd, k)
		}
	}
	var fs []found[string]
	var unknown []found[string]
	for _, l := range lines {
		for _, m := range re.FindAllStringSubmatchIndex(l.text, 20) {
			s, e := m[0], m[1]
			if len(m) >= 4 && m[2] >= 0 {
				s, e = m[2], m[3]
			}
			v := l.text[s:e]
			if k, ok := known[strings.ToLower(v)]; ok {
				fs = append(fs, found[string]{value: k, key: k, line: l, conf: Certain, score: 1})
				continue
			}
			conf := Likely
			if opts.RefPattern == nil && !strings.HasPrefix(v, "proj-") && !refContext(l.text[:s]) {
				// 20 letters with nothing saying it is a project: it may
				// be a long word.
				conf = Guess
			}
			unknown = append(unknown, found[string]{value: v, key: v, line: l, conf: conf})
		}
		if len(odd) > 0 {
			lower := strings.ToLower(l.text)
			for _, k := range odd {
				if containsWord(lower, strings.ToLower(k)) {
					fs = append(fs, found[string]{value: k, key: k, line: l, conf: Certain, score: 1})
				}
			}
		}
	}
	if len(known) == 0 {
		return decide(unknown)
	}
	if len(fs) > 0 {
		// Unknown matches next to known refs are most likely words that
		// happen to fit the pattern; do not let them muddle the answer.
		return decide(fs)
	}
	if len(unknown) == 0 {
		return Field[string]{Confidence: Missing}
	}
	f := decide(unknown)
	seen := map[string]bool{}
	var closest []string
	for _, u := range unknown {
		if seen[u.value] {
			continue
		}
		seen[u.value] = true
		// The sentence goes to the requester: it names what they wrote and
		// never another project (the known refs are every customer's).
		// The closest refs are candidates, for staff only.
		*problems = append(*problems, fmt.Sprintf("We could not find project %s; please check the ref.", u.value))
		for _, c := range Closest(u.value, opts.KnownRefs, 3) {
			if !slices.Contains(closest, c) {
				closest = append(closest, c)
			}
		}
	}
	f.Confidence = Invalid
	f.Candidates = closest
	return f
}

var reRefContext = regexp.MustCompile(`(?i)(project|ref|reference|id|/)\W{0,3}$`)

func refContext(before string) bool { return reRefContext.MatchString(before) }

func containsWord(text, w string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], w)
		if j < 0 {
			return false
		}
		s, e := i+j, i+j+len(w)
		if (s == 0 || !isWordByte(text[s-1])) && (e == len(text) || !isWordByte(text[e])) {
			return true
		}
		i = s + 1
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// --- mode ---

var (
	reDestructive = regexp.MustCompile(`(?i)\b(overwrit\w*|replac\w*|roll(ing|ed)?[ -]?back|revert\w*|in[ -]place|destructive(ly)?|restore over|wipe)\b`)
	reNewProject  = regexp.MustCompile(`(?i)\b(new project|separate project|another project|different project|fresh project|new database|separate database|side[ -]by[ -]side|keep (the )?(current|live|existing)|(don'?t|do not|without) (touch|chang|modif|affect)\w*)`)
	reNegation    = regexp.MustCompile(`(?i)\b(don'?t|do not|not|never|no need to|without|rather than|instead of)\s+(\w+\s+){0,2}$`)
)

func findMode(lines []line) Field[Mode] {
	var fs []found[Mode]
	for _, l := range lines {
		for range reNewProject.FindAllStringIndex(l.text, 10) {
			fs = append(fs, found[Mode]{value: ModeNewProject, key: string(ModeNewProject), line: l, conf: Likely})
		}
		for _, m := range reDestructive.FindAllStringIndex(l.text, 10) {
			if reNegation.MatchString(l.text[:m[0]]) {
				// "don't overwrite the live one" asks for a new project.
				fs = append(fs, found[Mode]{value: ModeNewProject, key: string(ModeNewProject), line: l, conf: Likely})
				continue
			}
			fs = append(fs, found[Mode]{value: ModeDestructive, key: string(ModeDestructive), line: l, conf: Likely})
		}
	}
	fs = append(fs, undeleteModes(lines)...) // undelete.go
	return decide(fs)
}
