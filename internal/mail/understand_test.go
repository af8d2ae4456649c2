package mail

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	testInventory = []string{"public.users", "auth.users", "public.orders", "auth.sessions", "public.order_items"}
	testRefs      = []string{"proj-abc", "proj-abd", "proj-alpha", "abcdefghijklmnopqrst"}
	// Monday 4 May 2026, 10:30 in California.
	testDate = time.Date(2026, 5, 4, 10, 30, 0, 0, time.FixedZone("", -7*3600))
)

func testMessage(subject, text string) *Message {
	return &Message{Subject: subject, Text: text, Date: testDate}
}

func TestUnderstandRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		subject  string
		text     string
		known    []string
		pattern  *regexp.Regexp
		want     string
		conf     Confidence
		problems []string
		cands    []string
	}{
		{name: "known ref in body", text: "please restore proj-abc", known: testRefs, want: "proj-abc", conf: Certain},
		{name: "known ref in subject", subject: "Restore proj-alpha", text: "to yesterday", known: testRefs, want: "proj-alpha", conf: Certain},
		{name: "subject tag and Re: ignored", subject: "Re: [Restore #12] proj-alpha", known: testRefs, want: "proj-alpha", conf: Certain},
		{name: "20 letters known", text: "ref abcdefghijklmnopqrst please", known: testRefs, want: "abcdefghijklmnopqrst", conf: Certain},
		{name: "in a URL", text: "https://app.example.com/project/abcdefghijklmnopqrst/settings", want: "abcdefghijklmnopqrst", conf: Likely},
		{name: "no known refs: proj- pattern likely", text: "restore proj-zeta", want: "proj-zeta", conf: Likely},
		{name: "no known refs: bare 20 letters is a guess", text: "internationalization is hard", want: "internationalization", conf: Guess},
		{name: "known refs outrank words that fit the pattern", text: "internationalization broke proj-abc", known: testRefs, want: "proj-abc", conf: Certain},
		{name: "same ref twice", subject: "proj-abc", text: "restore proj-abc", known: testRefs, want: "proj-abc", conf: Certain},
		{name: "two refs", text: "restore proj-abc or maybe proj-alpha", known: testRefs, want: "proj-abc", conf: Ambiguous},
		{name: "missing", text: "restore my database", known: testRefs, conf: Missing},
		{
			name: "unknown ref with closest", text: "restore proj-abx", known: testRefs, want: "proj-abx", conf: Invalid,
			problems: []string{"We could not find project proj-abx; please check the ref."}, cands: []string{"proj-abc", "proj-abd"},
		},
		{
			name: "unknown ref, nothing close", text: "restore proj-qqqqqqqqqqqqqqqqqq", known: testRefs, want: "proj-qqqqqqqqqqqqqqqqqq", conf: Invalid,
			problems: []string{"We could not find project proj-qqqqqqqqqqqqqqqqqq; please check the ref."},
		},
		{name: "custom pattern", text: "restore db-1234 please", pattern: regexp.MustCompile(`\b(db-\d{4})\b`), want: "db-1234", conf: Likely},
		{name: "known ref the pattern does not match", text: "restore LegacyShop please", known: []string{"LegacyShop"}, want: "LegacyShop", conf: Certain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Understand(testMessage(tt.subject, tt.text), UnderstandOptions{KnownRefs: tt.known, RefPattern: tt.pattern})
			if r.ProjectRef.Value != tt.want || r.ProjectRef.Confidence != tt.conf {
				t.Errorf("ProjectRef = %q (%s), want %q (%s); source %q", r.ProjectRef.Value, r.ProjectRef.Confidence, tt.want, tt.conf, r.ProjectRef.Source)
			}
			checkProblems(t, r.Problems, tt.problems)
			if tt.cands != nil && !slices.Equal(r.ProjectRef.Candidates, tt.cands) {
				t.Errorf("Candidates = %q, want %q", r.ProjectRef.Candidates, tt.cands)
			}
			for _, p := range r.Problems {
				for _, c := range tt.cands {
					if strings.Contains(p, c) {
						t.Errorf("problem %q, for the requester, names another project %s", p, c)
					}
				}
			}
		})
	}
}

func checkProblems(t *testing.T, got, want []string) {
	t.Helper()
	for _, w := range want {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("Problems = %q, want one containing %q", got, w)
		}
	}
	if len(want) == 0 && len(got) > 0 {
		t.Errorf("Problems = %q, want none", got)
	}
}

func TestUnderstandTime(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	pdt := time.FixedZone("", -7*3600)
	tests := []struct {
		name     string
		text     string
		date     time.Time // mail Date; zero means testDate
		want     time.Time
		conf     Confidence
		problems []string
	}{
		{name: "ISO with Z", text: "restore to 2026-05-03T14:00:00Z", want: time.Date(2026, 5, 3, 14, 0, 0, 0, utc), conf: Certain},
		{name: "ISO with offset", text: "restore to 2026-05-03T14:00:00+02:00", want: time.Date(2026, 5, 3, 12, 0, 0, 0, utc), conf: Certain},
		{name: "ISO-ish with UTC", text: "restore to 2026-05-03 14:00 UTC", want: time.Date(2026, 5, 3, 14, 0, 0, 0, utc), conf: Certain},
		{name: "ISO without zone uses the mail's", text: "restore to 2026-05-03 14:00", want: time.Date(2026, 5, 3, 14, 0, 0, 0, pdt), conf: Likely},
		{name: "May 3 at 2pm PST", text: "restore to May 3 at 2pm PST", want: time.Date(2026, 5, 3, 22, 0, 0, 0, utc), conf: Likely},
		{name: "3 May 14:00 CET", text: "restore to 3 May 14:00 CET", want: time.Date(2026, 5, 3, 13, 0, 0, 0, utc), conf: Likely},
		{name: "May 3rd, 2026 at 2:30 pm EDT", text: "restore to May 3rd, 2026 at 2:30 pm EDT", want: time.Date(2026, 5, 3, 18, 30, 0, 0, utc), conf: Likely},
		{name: "BST and IST", text: "to 1 May 09:00 IST", want: time.Date(2026, 5, 1, 3, 30, 0, 0, utc), conf: Likely},
		{name: "UTC+2", text: "to May 1 10:00 UTC+2", want: time.Date(2026, 5, 1, 8, 0, 0, 0, utc), conf: Likely},
		{name: "month name without year is the latest past one", text: "to December 24 at noon", want: time.Date(2025, 12, 24, 12, 0, 0, 0, pdt), conf: Likely},
		{name: "yesterday around 3pm", text: "restore to yesterday around 3pm", want: time.Date(2026, 5, 3, 15, 0, 0, 0, pdt), conf: Likely},
		{name: "yesterday at 15:00 in another zone", text: "yesterday at 15:00 UTC", want: time.Date(2026, 5, 3, 15, 0, 0, 0, utc), conf: Likely},
		{name: "yesterday alone is a guess", text: "please restore proj-abc to yesterday", want: time.Date(2026, 5, 3, 0, 0, 0, 0, pdt), conf: Guess},
		{name: "this morning", text: "restore to this morning", want: time.Date(2026, 5, 4, 9, 0, 0, 0, pdt), conf: Guess},
		{name: "this morning at 8:15", text: "restore to this morning at 8:15", want: time.Date(2026, 5, 4, 8, 15, 0, 0, pdt), conf: Likely},
		{name: "yesterday evening", text: "restore to yesterday evening", want: time.Date(2026, 5, 3, 19, 0, 0, 0, pdt), conf: Guess},
		{name: "last friday", text: "restore to last friday at 6pm", want: time.Date(2026, 5, 1, 18, 0, 0, 0, pdt), conf: Likely},
		{name: "2 hours ago", text: "it broke 2 hours ago", want: time.Date(2026, 5, 4, 8, 30, 0, 0, pdt), conf: Likely},
		{name: "an hour ago", text: "restore to an hour ago", want: time.Date(2026, 5, 4, 9, 30, 0, 0, pdt), conf: Likely},
		{name: "time alone is the latest before the mail", text: "restore to 9:45", want: time.Date(2026, 5, 4, 9, 45, 0, 0, pdt), conf: Guess},
		{name: "time alone after the mail is the day before", text: "restore to 11pm", want: time.Date(2026, 5, 3, 23, 0, 0, 0, pdt), conf: Guess},
		{
			name: "the restore target beats the incident time",
			text: "we deleted rows this morning at 9:40. please restore to yesterday 3pm",
			want: time.Date(2026, 5, 3, 15, 0, 0, 0, pdt), conf: Likely,
		},
		{name: "two equal candidates are ambiguous", text: "restore to May 1 at 3pm or May 2 at 3pm", want: time.Date(2026, 5, 1, 15, 0, 0, 0, pdt), conf: Ambiguous},
		{
			name: "future time is invalid", text: "restore to 2026-06-01T00:00:00Z", want: time.Date(2026, 6, 1, 0, 0, 0, 0, utc), conf: Invalid,
			problems: []string{"after your mail was sent"},
		},
		{
			name: "relative to the mail's own zone", text: "restore to yesterday at 23:00",
			date: time.Date(2026, 5, 4, 0, 30, 0, 0, time.FixedZone("", 9*3600)),
			want: time.Date(2026, 5, 3, 23, 0, 0, 0, time.FixedZone("", 9*3600)), conf: Likely,
		},
		{name: "missing", text: "restore proj-abc please", conf: Missing},
		{name: "not a time: version numbers", text: "we run version 15.4 of postgres", conf: Missing},
		{name: "not a time: 24/7", text: "we run 24/7 and 1/2 of the rows are gone", conf: Missing},
		{name: "numeric date both ways is ambiguous", text: "restore to 5/3 at 2pm", want: time.Date(2026, 5, 3, 14, 0, 0, 0, pdt), conf: Ambiguous},
		{name: "numeric date one way", text: "restore to 25/4/2026 14:00", want: time.Date(2026, 4, 25, 14, 0, 0, 0, pdt), conf: Likely},
		{name: "numeric date with year, no time", text: "restore to 4/25/2026", want: time.Date(2026, 4, 25, 0, 0, 0, 0, pdt), conf: Guess},
		{name: "dotted european date", text: "restore to 03.05.2026 14:00", want: time.Date(2026, 5, 3, 14, 0, 0, 0, pdt), conf: Likely},
		{name: "slashed ISO", text: "restore to 2026/05/03 14:00 UTC", want: time.Date(2026, 5, 3, 14, 0, 0, 0, utc), conf: Certain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := testMessage("", tt.text)
			if !tt.date.IsZero() {
				m.Date = tt.date
			}
			r := Understand(m, UnderstandOptions{})
			if !r.Time.Value.Equal(tt.want) || r.Time.Confidence != tt.conf {
				t.Errorf("Time = %v (%s), want %v (%s); source %q", r.Time.Value, r.Time.Confidence, tt.want, tt.conf, r.Time.Source)
			}
			checkProblems(t, r.Problems, tt.problems)
		})
	}
}

func TestUnderstandScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		text      string
		inventory []string
		want      Scope
		conf      Confidence
		problems  []string
	}{
		{name: "full database", text: "restore the full database", inventory: testInventory, want: Scope{Full: true}, conf: Likely},
		{name: "entire db", text: "the entire db please", want: Scope{Full: true}, conf: Likely},
		{name: "all tables", text: "restore all the tables", want: Scope{Full: true}, conf: Likely},
		{name: "the X table, resolved", text: "restore the orders table", inventory: testInventory, want: Scope{Tables: []string{"public.orders"}}, conf: Likely},
		{name: "qualified tables", text: "tables public.orders and auth.users", inventory: testInventory, want: Scope{Tables: []string{"public.orders", "auth.users"}}, conf: Certain},
		{name: "list before tables", text: "restore the orders and order_items tables", inventory: testInventory, want: Scope{Tables: []string{"public.orders", "public.order_items"}}, conf: Likely},
		{name: "table: list", text: "Tables: public.orders, auth.sessions", inventory: testInventory, want: Scope{Tables: []string{"public.orders", "auth.sessions"}}, conf: Certain},
		{name: "no inventory keeps names as written", text: "restore the invoices table", want: Scope{Tables: []string{"invoices"}}, conf: Likely},
		{name: "case forgiven", text: "restore the Orders table", inventory: testInventory, want: Scope{Tables: []string{"public.orders"}}, conf: Likely},
		{
			name: "bare name in two schemas is ambiguous", text: "restore the users table", inventory: testInventory, conf: Ambiguous,
			problems: []string{"There is a table users in more than one schema: public.users, auth.users"},
		},
		{
			name: "unknown table with closest", text: "restore the ordres table", inventory: testInventory, conf: Invalid,
			problems: []string{"There is no table ordres in the project; the closest are: public.orders"},
		},
		{name: "negated full database", text: "only the orders table, not the whole database", inventory: testInventory, want: Scope{Tables: []string{"public.orders"}}, conf: Likely},
		{
			name: "full and tables both asked", text: "restore the full database. also the orders table",
			inventory: testInventory, want: Scope{Tables: []string{"public.orders"}}, conf: Ambiguous,
		},
		{name: "schema named apart", text: "the users table in the auth schema", inventory: testInventory, want: Scope{Tables: []string{"auth.users"}}, conf: Certain},
		{name: "participle after table is prose", text: "we'd like the table restored as it was", conf: Missing},
		{name: "smart quotes", text: "the \u201corders\u201d table", inventory: testInventory, want: Scope{Tables: []string{"public.orders"}}, conf: Likely},
		{name: "words that are not tables", text: "the same table as last time", inventory: testInventory, conf: Missing},
		{name: "domain names are not tables", text: "see example.com for details", conf: Missing},
		{name: "missing", text: "restore proj-abc", conf: Missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Understand(testMessage("", tt.text), UnderstandOptions{Tables: tt.inventory})
			if tt.want.String() != "" && r.Scope.Value.String() != tt.want.String() || r.Scope.Confidence != tt.conf {
				t.Errorf("Scope = %q (%s), want %q (%s); source %q", r.Scope.Value, r.Scope.Confidence, tt.want, tt.conf, r.Scope.Source)
			}
			checkProblems(t, r.Problems, tt.problems)
		})
	}
}

// modeCase is one text and the mode Understand must read from it.
type modeCase struct {
	text string
	want Mode
	conf Confidence
}

// checkModes runs each case as a subtest named by its text; an ambiguous
// case's value is not checked, only its confidence.
func checkModes(t *testing.T, tests []modeCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			r := Understand(testMessage("", tt.text), UnderstandOptions{})
			if (tt.conf != Ambiguous && r.Mode.Value != tt.want) || r.Mode.Confidence != tt.conf {
				t.Errorf("Mode = %q (%s), want %q (%s)", r.Mode.Value, r.Mode.Confidence, tt.want, tt.conf)
			}
		})
	}
}

func TestUnderstandMode(t *testing.T) {
	t.Parallel()
	checkModes(t, []modeCase{
		{"please overwrite the live database", ModeDestructive, Likely},
		{"replace the current data", ModeDestructive, Likely},
		{"roll back the database to yesterday", ModeDestructive, Likely},
		{"restore it in place", ModeDestructive, Likely},
		{"restore into a new project", ModeNewProject, Likely},
		{"a separate project please", ModeNewProject, Likely},
		{"keep current data as it is", ModeNewProject, Likely},
		{"don't touch the live one", ModeNewProject, Likely},
		{"do not overwrite anything", ModeNewProject, Likely},
		{"overwrite it. yes, replace everything", ModeDestructive, Certain},
		{"overwrite it, or maybe a new project", ModeDestructive, Ambiguous},
		{"restore proj-abc", "", Missing},
	})
}

// TestUnderstandFixtures is the golden test: each fixture, parsed and
// understood, gives these fields and asks for these.
func TestUnderstandFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file       string
		tables     []string
		ref        string
		time       string // RFC 3339 in UTC
		timeConf   Confidence
		scope      string
		mode       Mode
		missing    []string
		sourceHas  string // in the time's source
		problemHas string
	}{
		{
			file: "gmail_reply.eml", tables: testInventory,
			ref: "proj-abc", time: "2026-05-03T22:00:00Z", timeConf: Likely, scope: "table public.orders", mode: ModeNewProject,
			sourceHas: "body line 3: 'It's proj-abc. Please restore the orders table to May 3 at 2pm PST",
		},
		{
			file: "outlook_1252.eml", tables: []string{"public.users", "public.orders"},
			ref: "proj-alpha", time: "2026-05-03T20:00:00Z", timeConf: Likely, scope: "table public.users", mode: ModeNewProject,
			sourceHas: "restored to yesterday around 3pm",
		},
		{
			file: "forwarded.eml",
			ref:  "proj-abc", time: "2026-05-03T14:00:00Z", timeConf: Certain, scope: "full database", mode: ModeDestructive,
		},
		{
			file: "oneline.eml",
			ref:  "proj-abc", time: "2026-05-03T22:00:00Z", timeConf: Guess,
			missing:   []string{FieldScope, FieldMode},
			sourceHas: "(a day without a time of day)",
		},
		{
			file: "html_only.eml", tables: testInventory,
			ref: "proj-alpha", time: "2026-05-03T14:00:00Z", timeConf: Certain, scope: "tables public.orders, auth.users", mode: ModeNewProject,
		},
		{
			file: "malformed_boundary.eml",
			ref:  "proj-abc", time: "2026-05-03T14:00:00Z", timeConf: Certain, scope: "full database", mode: ModeNewProject,
		},
		{
			file: "malformed_header.eml", tables: testInventory,
			ref: "proj-abc", time: "2026-05-04T09:00:00Z", timeConf: Guess,
			missing:    []string{FieldScope, FieldMode},
			problemHas: "There is a table users in more than one schema",
		},
		{
			file: "outlook_forward.eml", tables: testInventory,
			ref: "proj-abc", time: "2026-04-30T20:00:00Z", timeConf: Likely, scope: "full database", mode: ModeDestructive,
			sourceHas: "(relative to the forwarded mail's date, 2026-05-01 09:00)",
		},
		{
			file: "forward_attached.eml",
			ref:  "proj-abc", time: "2026-04-30T20:00:00Z", timeConf: Likely, mode: ModeNewProject,
			missing:   []string{FieldScope},
			sourceHas: "(relative to the forwarded mail's date, 2026-05-01 09:00)",
		},
		{
			file:    "bounce.eml",
			missing: []string{FieldProjectRef, FieldTime, FieldScope, FieldMode},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			m, err := Parse(readFixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r := Understand(m, UnderstandOptions{KnownRefs: testRefs, Tables: tt.tables})
			if r.ProjectRef.Value != tt.ref {
				t.Errorf("ref = %q (%s)", r.ProjectRef.Value, r.ProjectRef.Confidence)
			}
			var got string
			if !r.Time.Value.IsZero() {
				got = r.Time.Value.UTC().Format(time.RFC3339)
			}
			if got != tt.time || (tt.time != "" && r.Time.Confidence != tt.timeConf) {
				t.Errorf("time = %s (%s), want %s (%s); source %q", got, r.Time.Confidence, tt.time, tt.timeConf, r.Time.Source)
			}
			if !strings.Contains(r.Time.Source, tt.sourceHas) {
				t.Errorf("time source = %q, want it to contain %q", r.Time.Source, tt.sourceHas)
			}
			if s := r.Scope.Value.String(); tt.scope != "" && s != tt.scope {
				t.Errorf("scope = %q (%s), want %q", s, r.Scope.Confidence, tt.scope)
			}
			if r.Mode.Value != tt.mode {
				t.Errorf("mode = %q, want %q", r.Mode.Value, tt.mode)
			}
			if got := r.Missing(); !slices.Equal(got, tt.missing) {
				t.Errorf("Missing() = %v, want %v", got, tt.missing)
			}
			if tt.problemHas != "" {
				checkProblems(t, r.Problems, []string{tt.problemHas})
			}
		})
	}
}

func TestRequestUpdate(t *testing.T) {
	t.Parallel()
	opts := UnderstandOptions{KnownRefs: testRefs, Tables: testInventory}
	first := Understand(testMessage("restore please", "please restore proj-abx to yesterday 3pm, the users table"), opts)
	if got := first.Missing(); !slices.Equal(got, []string{FieldProjectRef, FieldScope, FieldMode}) {
		t.Fatalf("first Missing() = %v", got)
	}
	// The reply fixes the ref and the mode; the table is still unclear.
	reply := Understand(testMessage("Re: [Restore #3] We need a little more information", "sorry, it's proj-abc. Overwrite it."), opts)
	merged := first.Update(reply)
	if merged.ProjectRef.Value != "proj-abc" || merged.ProjectRef.Confidence != Certain {
		t.Errorf("ref = %+v", merged.ProjectRef)
	}
	if merged.Mode.Value != ModeDestructive || !merged.Time.Value.Equal(first.Time.Value) {
		t.Errorf("mode %q, time %v", merged.Mode.Value, merged.Time.Value)
	}
	if got := merged.Missing(); !slices.Equal(got, []string{FieldScope}) {
		t.Errorf("merged Missing() = %v", got)
	}
	if len(merged.Problems) != 1 || !strings.Contains(merged.Problems[0], "table users in more than one schema") {
		t.Errorf("merged Problems = %q", merged.Problems)
	}
	// A later reply that changes its mind wins.
	again := merged.Update(Understand(testMessage("", "actually, a new project please, table public.users"), opts))
	if again.Mode.Value != ModeNewProject || again.Scope.Value.String() != "table public.users" || len(again.Missing()) != 0 || len(again.Problems) != 0 {
		t.Errorf("again = %+v", again)
	}
}

func FuzzUnderstand(f *testing.F) {
	for _, s := range []string{
		"please restore proj-abc to yesterday",
		"restore 3 May 14:00 CET the tables public.orders and auth.users, don't touch the live one",
		"On Mon wrote:\n> x\n---------- Forwarded message ---------\nFrom: a\n\nrestore proj-abc 2 hours ago",
		"tables , and & , the table table tables",
		"2026-13-45T99:99:99+99:99 May 99 at 99pm UTC+99 last sunday night",
		"Sent from my iPhone\n-- \n-----Original Message-----",
	} {
		f.Add("Re: [Restore #1] "+s, s)
	}
	f.Fuzz(func(t *testing.T, subject, text string) {
		m := &Message{Subject: subject, Text: text, Date: testDate}
		r := Understand(m, UnderstandOptions{KnownRefs: testRefs, Tables: testInventory})
		_ = r.Missing()
		_ = r.Scope.Value.String()
		_ = StripQuoted(text)
		if _, _, err := Render(NoticeNeedsInfo, NoticeData{TicketID: 1, Missing: r.Missing(), Problems: r.Problems, ProjectRef: r.ProjectRef.Value}); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkParseUnderstand is the intake hot path: a typical reply, parsed
// and understood.
func BenchmarkParseUnderstand(b *testing.B) {
	for _, file := range []string{"gmail_reply.eml", "outlook_1252.eml", "html_only.eml"} {
		raw := readFixture(b, file)
		b.Run(file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				m, err := Parse(raw)
				if err != nil {
					b.Fatal(err)
				}
				_ = Understand(m, UnderstandOptions{KnownRefs: testRefs, Tables: testInventory})
			}
		})
	}
}
