package extract

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// render lists a dump's entries one per line, COPY rows inline, for comparisons.
func render(t testing.TB, dump io.Reader) (string, error) {
	t.Helper()
	rd := NewReader(dump)
	var b strings.Builder
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return b.String(), err
		}
		switch e.Kind {
		case KindCopy:
			data, err := io.ReadAll(e.Rows)
			if err != nil {
				return b.String(), err
			}
			fmt.Fprintf(&b, "%d %s copy %s %q rows=%d %q\n", e.Line, e.Phase, e.Table, e.Columns, e.Rows.Count(), data)
		case KindMeta:
			fmt.Fprintf(&b, "%d %s meta %s %q\n", e.Line, e.Phase, e.Command, e.Arg)
		default:
			fmt.Fprintf(&b, "%d %s [%s|%s|%s] %q\n", e.Line, e.Phase, e.Type, e.Schema, e.Name, e.SQL)
		}
	}
	fmt.Fprintf(&b, "trailer=%v\n", rd.TrailerSeen())
	return b.String(), nil
}

func TestReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, dump, want string
	}{
		{
			name: "quoted identifier with semicolon and newline",
			dump: "CREATE TABLE public.\"semi;colon\nnewline\" (\"a\"\"b;\" text);\nSELECT 1;\n",
			want: "1 pre-data [||] \"CREATE TABLE public.\\\"semi;colon\\nnewline\\\" (\\\"a\\\"\\\"b;\\\" text);\"\n" +
				"3 pre-data [||] \"SELECT 1;\"\ntrailer=false\n",
		},
		{
			name: "string literals",
			dump: "SELECT 'a;''b', E'c\\';d', e'\\\\';\nSELECT 'x\n;y';\n",
			want: "1 pre-data [||] \"SELECT 'a;''b', E'c\\\\';d', e'\\\\\\\\';\"\n2 pre-data [||] \"SELECT 'x\\n;y';\"\ntrailer=false\n",
		},
		{
			name: "standard string ending in backslash",
			dump: "SELECT 'a\\';\nSELECT 2;\n",
			want: "1 pre-data [||] \"SELECT 'a\\\\';\"\n2 pre-data [||] \"SELECT 2;\"\ntrailer=false\n",
		},
		{
			name: "dollar quotes",
			dump: "CREATE FUNCTION f() RETURNS int AS $_$\nBEGIN; $$;$$ -- ;\nEND $_$;\nSELECT $1, a$b$c;\n",
			want: "1 pre-data [||] \"CREATE FUNCTION f() RETURNS int AS $_$\\nBEGIN; $$;$$ -- ;\\nEND $_$;\"\n" +
				"4 pre-data [||] \"SELECT $1, a$b$c;\"\ntrailer=false\n",
		},
		{
			name: "comments",
			dump: "SELECT /* ; /* nested ; */ ; */ 1 -- ;\n;\n-- SELECT 2;\n",
			want: "1 pre-data [||] \"SELECT /* ; /* nested ; */ ; */ 1 -- ;\\n;\"\ntrailer=false\n",
		},
		{
			name: "two statements on a line",
			dump: "SELECT 1; SELECT 2;\n",
			want: "1 pre-data [||] \"SELECT 1;\"\n1 pre-data [||] \"SELECT 2;\"\ntrailer=false\n",
		},
		{
			name: "headers with semicolons and phases",
			dump: "--\n-- Name: documents docs; owner; Type: POLICY; Schema: ai; Owner: -\n--\n\nCREATE POLICY \"docs; owner\" ON ai.documents USING (true);\n" +
				"-- Name: t; Type: TABLE; Schema: s; Owner: o; Tablespace: ts\nCREATE TABLE s.t (a int);\n",
			want: "5 post-data [POLICY|ai|documents docs; owner] \"CREATE POLICY \\\"docs; owner\\\" ON ai.documents USING (true);\"\n" +
				"7 post-data [TABLE|s|t] \"CREATE TABLE s.t (a int);\"\ntrailer=false\n",
		},
		{
			name: "copy rows that look like headers, terminators and statements",
			dump: "-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -\nCOPY public.\"T x\" (a, \"b c\") FROM stdin;\n" +
				"-- Name: x; Type: TABLE; Schema: public; Owner: -\n\\\\.\n\\.x\nCOPY a FROM stdin;\n\\N\t\\t\n\\.\n" +
				"-- Name: s; Type: SEQUENCE SET; Schema: public; Owner: -\nSELECT pg_catalog.setval('s', 1, true);\n",
			want: "2 data copy public.\"T x\" [\"a\" \"b c\"] rows=5 \"-- Name: x; Type: TABLE; Schema: public; Owner: -\\n\\\\\\\\.\\n\\\\.x\\nCOPY a FROM stdin;\\n\\\\N\\t\\\\t\\n\"\n" +
				"10 data [SEQUENCE SET|public|s] \"SELECT pg_catalog.setval('s', 1, true);\"\ntrailer=false\n",
		},
		{
			name: "empty table",
			dump: "COPY public.e (a) FROM stdin;\n\\.\nSELECT 1;\n",
			want: "1 data copy public.e [\"a\"] rows=0 \"\"\n3 data [||] \"SELECT 1;\"\ntrailer=false\n",
		},
		{
			name: "copy terminator at end of file without newline, and CRLF",
			dump: "COPY a (x) FROM stdin;\n1\r\n\\.\r\nCOPY b (x) FROM stdin;\n2\n\\.",
			want: "1 data copy a [\"x\"] rows=1 \"1\\r\\n\"\n4 data copy b [\"x\"] rows=1 \"2\\n\"\ntrailer=false\n",
		},
		{
			name: "restrict keys and trailer before unrestrict",
			dump: "\\restrict abc\n-- Dumped from database version 15.18\nSELECT 1;\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n",
			want: "1 pre-data meta restrict \"abc\"\n3 pre-data [||] \"SELECT 1;\"\n8 pre-data meta unrestrict \"abc\"\ntrailer=true\n",
		},
		{
			name: "materialized view data is post-data",
			dump: "-- Name: m; Type: MATERIALIZED VIEW DATA; Schema: public; Owner: -\nREFRESH MATERIALIZED VIEW public.m;\n",
			want: "2 post-data [MATERIALIZED VIEW DATA|public|m] \"REFRESH MATERIALIZED VIEW public.m;\"\ntrailer=false\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := render(t, strings.NewReader(tc.dump))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, dump, want string
		is               error
	}{
		{"shell", "SELECT 1;\n\\! rm -rf /\n", "line 2: \\!", ErrForbiddenMeta},
		{"include", "\\i /etc/passwd\n", "line 1: \\i", ErrForbiddenMeta},
		{"copy program", "\\copy t from program 'id'\n", "line 1: \\copy", ErrForbiddenMeta},
		{"stray terminator", "\\.\n", "line 1: \\.", ErrForbiddenMeta},
		{"unterminated copy", "COPY t (a) FROM stdin;\n1\n", "line 1: COPY data not terminated", io.ErrUnexpectedEOF},
		{"unterminated statement", "SELECT 'abc;\n", "line 1: statement not terminated", nil},
		{"copy to program", "COPY t TO PROGRAM 'id';\n", "refused statement at line 1: COPY ... PROGRAM", ErrRefused},
		{"copy from file", "COPY t FROM '/etc/passwd';\n", "refused statement at line 1: COPY ... FROM a server file", ErrRefused},
		{"copy csv", "COPY t FROM stdin WITH CSV;\n", "line 1: unsupported COPY statement", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, strings.NewReader(tc.dump))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
}

func TestReaderLongRowsAndSkipping(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 20<<20) // longer than the 1 MiB buffer
	dump := "COPY a (x) FROM stdin;\n" + long + "\n\\.\n-- Name: b; Type: TABLE; Schema: public; Owner: -\nCREATE TABLE b (x text DEFAULT '" +
		long + "');\nCOPY b (x) FROM stdin;\n" + long + "\n" + long + "\n\\.\n"
	rd := NewReader(strings.NewReader(dump))
	e, err := rd.Next()
	if err != nil || e.Kind != KindCopy {
		t.Fatal(e, err)
	}
	// Left unread: Next skips it.
	e, err = rd.Next()
	if err != nil || e.Type != "TABLE" || len(e.SQL) != len(long)+len("CREATE TABLE b (x text DEFAULT '');") || e.Line != 5 {
		t.Fatalf("entry %v %d %v", e.Type, e.Line, err)
	}
	e, err = rd.Next()
	if err != nil || e.Kind != KindCopy {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, e.Rows)
	if err != nil || n != int64(2*len(long)+2) || e.Rows.Count() != 2 {
		t.Fatalf("copied %d rows %d: %v", n, e.Rows.Count(), err)
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestTargetTable(t *testing.T) {
	t.Parallel()
	for sql, want := range map[string]string{
		"ALTER TABLE ONLY public.\"User Events\"\n    ADD CONSTRAINT x PRIMARY KEY (id);":    `public."User Events"`,
		"CREATE UNIQUE INDEX \"on\" ON ONLY s.t USING btree (a);":                            "s.t",
		"CREATE INDEX i ON s.\"ON x\" USING gin (a);":                                        `s."ON x"`,
		"CREATE TRIGGER tr BEFORE INSERT ON ai.documents FOR EACH ROW EXECUTE FUNCTION f();": "ai.documents",
		"CREATE POLICY \"p; ON\" ON ai.documents USING (true);":                              "ai.documents",
		"ALTER TABLE ai.documents ENABLE ROW LEVEL SECURITY;":                                "ai.documents",
	} {
		q, ok := TargetTable(sql)
		if !ok || q.String() != want {
			t.Errorf("TargetTable(%q) = %v %v, want %s", sql, q, ok, want)
		}
	}
	q, ok := ReferencedTable("ALTER TABLE ONLY a.b ADD CONSTRAINT \"REFERENCES\" FOREIGN KEY (x) REFERENCES \"Auth\".users(id);")
	if !ok || q.String() != `"Auth".users` {
		t.Errorf("ReferencedTable = %v %v", q, ok)
	}
}
