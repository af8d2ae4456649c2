package extract

import (
	"strings"
	"testing"
)

// TestReaderKeepsSQLStandardBodiesWhole: the semicolons of a BEGIN ATOMIC body (and
// inside parentheses) do not end the statement, as in psql.
func TestReaderKeepsSQLStandardBodiesWhole(t *testing.T) {
	t.Parallel()
	body := "CREATE FUNCTION public.f(a integer) RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n" +
		" SELECT CASE WHEN (a > 0) THEN 1 ELSE 0 END AS \"case\";\n SELECT (a + 1);\nEND;"
	proc := "CREATE OR REPLACE PROCEDURE public.p()\n    LANGUAGE sql\n    BEGIN ATOMIC\n INSERT INTO public.t (x) VALUES (1);\nEND;"
	dump := "SET x = 1;\n" + body + "\n\n" + proc + "\nCREATE TABLE public.t (x int);\nCREATE TABLE public.begin (x int);\nSELECT 1;\n"
	rd := NewReader(strings.NewReader(dump))
	var got []string
	eachEntry(t, "read", rd.Next, func(e Entry) { got = append(got, e.SQL) })
	want := []string{"SET x = 1;", body, proc, "CREATE TABLE public.t (x int);", "CREATE TABLE public.begin (x int);", "SELECT 1;"}
	if strings.Join(got, "\n---\n") != strings.Join(want, "\n---\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n---\n"), strings.Join(want, "\n---\n"))
	}
}
