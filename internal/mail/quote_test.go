package mail

import (
	"strings"
	"testing"
)

// textCase is one input of a text-to-text function and the text it must give.
type textCase struct {
	name string
	in   string
	want string
}

// checkText runs each case through fn as a subtest named by the case.
func checkText(t *testing.T, fnName string, fn func(string) string, tests []textCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fn(tt.in); got != tt.want {
				t.Errorf("%s(%q) =\n%s\n--- want\n%s", fnName, tt.in, got, tt.want)
			}
		})
	}
}

func TestStripQuoted(t *testing.T) {
	t.Parallel()
	checkText(t, "StripQuoted", StripQuoted, []textCase{
		{
			name: "gmail attribution and quoted lines",
			in:   "Yes, proj-abc.\n\nOn Mon, May 4, 2026 at 9:12 AM Portal <p@example.com> wrote:\n> Which project?\n>\n> -- \n> Portal",
			want: "Yes, proj-abc.",
		},
		{
			name: "attribution wrapped over two lines",
			in:   "Yes.\n\nOn Mon, May 4, 2026 at 9:12 AM Restore portal <\nrestore@support.example.com> wrote:\n\n> Which project?",
			want: "Yes.",
		},
		{
			name: "german attribution",
			in:   "Ja, bitte.\n\nAm 04.05.2026 um 09:12 schrieb Portal <p@example.com>:\n> Welches Projekt?",
			want: "Ja, bitte.",
		},
		{
			name: "interleaved reply keeps the answers",
			in:   "> Which project?\nproj-abc\n> Which time?\nyesterday 3pm",
			want: "proj-abc\nyesterday 3pm",
		},
		{
			name: "outlook original message",
			in:   "Please use proj-abc.\n\nBob\n\n-----Original Message-----\nFrom: Portal\nSent: Friday\nSubject: x\n\nold text",
			want: "Please use proj-abc.\n\nBob",
		},
		{
			name: "outlook from/sent block",
			in:   "Please use proj-abc.\n\n________________________________\nFrom: Portal <p@example.com>\nSent: Friday, May 1, 2026 9:00 AM\nTo: Bob\n\nold text",
			want: "Please use proj-abc.",
		},
		{
			name: "outlook from/sent block without underscores",
			in:   "Please use proj-abc.\n\nFrom: Portal <p@example.com>\nSent: Friday, May 1, 2026 9:00 AM\nTo: Bob\n\nold text",
			want: "Please use proj-abc.",
		},
		{
			name: "a From: line in prose is kept",
			in:   "From: our side nothing changed.\nrestore proj-abc",
			want: "From: our side nothing changed.\nrestore proj-abc",
		},
		{
			name: "dash dash space signature",
			in:   "restore proj-abc\n-- \nAlice\nACME Inc.",
			want: "restore proj-abc",
		},
		{
			name: "sent from my iphone",
			in:   "restore proj-abc to yesterday\n\nSent from my iPhone",
			want: "restore proj-abc to yesterday",
		},
		{
			name: "get outlook for ios",
			in:   "restore proj-abc\n\nGet Outlook for iOS",
			want: "restore proj-abc",
		},
		{
			name: "a long line starting with sent from is kept",
			in:   "Sent from my laptop earlier: the request to restore proj-abc to yesterday at noon, as the full database please",
			want: "Sent from my laptop earlier: the request to restore proj-abc to yesterday at noon, as the full database please",
		},
		{
			name: "forwarded message kept with its header, its own quotes stripped",
			in:   "FYI\n\n---------- Forwarded message ---------\nFrom: Dana <d@example.com>\nDate: Sun, May 3, 2026\nSubject: restore\n\nrestore proj-abc please\nSent from my iPhone\n\n> On Sun Carol wrote:\n> old",
			want: "FYI\n\n---------- Forwarded message ---------\nFrom: Dana <d@example.com>\nDate: Sun, May 3, 2026\nSubject: restore\n\nrestore proj-abc please",
		},
		{
			name: "forward after a signature is kept",
			in:   "FYI\n-- \nCarol\n\n---------- Forwarded message ---------\nFrom: Dana <d@example.com>\n\nrestore proj-abc please",
			want: "FYI\n\n---------- Forwarded message ---------\nFrom: Dana <d@example.com>\n\nrestore proj-abc please",
		},
		{
			name: "apple forward",
			in:   "see below\n\nBegin forwarded message:\n\nFrom: Dana <d@example.com>\nSubject: restore\n\nrestore proj-abc please",
			want: "see below\n\nBegin forwarded message:\nFrom: Dana <d@example.com>\nSubject: restore\n\nrestore proj-abc please",
		},
		{
			name: "a forward inside quoted history is history",
			in:   "thanks\n\nOn Mon Bob wrote:\n> ---------- Forwarded message ---------\n> restore proj-old",
			want: "thanks",
		},
		{
			name: "CRLF input",
			in:   "restore proj-abc\r\n\r\nOn Mon, May 4, 2026 Bob wrote:\r\n> old\r\n",
			want: "restore proj-abc",
		},
		{name: "empty", in: "", want: ""},
	})
}

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	checkText(t, "HTMLToText", HTMLToText, []textCase{
		{"paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"},
		{"line breaks", "a<br>b<br/>c", "a\nb\nc"},
		{"gmail empty div line", "<div>a</div><div><br></div><div>b</div>", "a\n\nb"},
		{"unordered list", "<p>tables:</p><ul><li>public.orders</li><li>auth.users</li></ul>", "tables:\n\n- public.orders\n- auth.users"},
		{"ordered list", "<ol><li>first</li><li>second</li></ol>", "1. first\n2. second"},
		{"script and style dropped", "<style>p{}</style><script>alert(1)</script><p>keep</p>", "keep"},
		{"head dropped", "<html><head><title>T</title></head><body>body</body></html>", "body"},
		{"whitespace collapsed", "<p>  a \n  b   c </p>", "a b c"},
		{"entities", "<p>It&#39;s &amp; &lt;ok&gt;&nbsp;now</p>", "It's & <ok> now"},
		{"blockquote quoted", "<p>yes</p><blockquote>old<br>older</blockquote>", "yes\n\n> old\n> older"},
		{"link target kept", `<a href="https://app.example.com/p/proj-abc">the project</a>`, "the project <https://app.example.com/p/proj-abc>"},
		{"link same as text", `<a href="https://x.example">https://x.example</a>`, "https://x.example"},
		{"pre kept", "<pre>a\n  b</pre>", "a\n  b"},
		{"table cells", "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>", "a b\nc d"},
		{"inline formatting", "please <b>restore</b> <i>proj-abc</i>", "please restore proj-abc"},
	})
}

func TestHTMLToTextDeepNesting(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("<div>", 5000) + "deep" + strings.Repeat("</div>", 5000)
	got := HTMLToText(in) // must not blow the stack or hang
	if strings.TrimSpace(got) != "deep" {
		t.Fatalf("text of 5000 nested divs: %q, want %q", got, "deep")
	}
	in = strings.Repeat("<div>", 600) + "<script>alert(1)</script><p>kept</p>" + strings.Repeat("</div>", 600)
	if got := strings.TrimSpace(HTMLToText(in)); got != "kept" {
		t.Fatalf("text of 600 nested divs with a script: %q, want %q", got, "kept")
	}
}
