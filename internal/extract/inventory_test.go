package extract

import (
	"strings"
	"testing"
)

func TestResolveTables(t *testing.T) {
	t.Parallel()
	inv, err := Inventory(openTestdata(t, "full.sql"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := inv.ResolveTables([]string{"auth.users", `public."User Events"`, "public.User Events_2024", "auth.users"})
	if err != nil {
		t.Fatal(err)
	}
	want := []QualifiedName{{Schema: "auth", Name: "users"}, {Schema: "public", Name: "User Events"}, {Schema: "public", Name: "User Events_2024"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("got %v, want %v", got, want)
	}
	_, err = inv.ResolveTables([]string{"auth.user", "storage.bucket"})
	if err == nil || !strings.Contains(err.Error(), `unknown table "auth.user" (did you mean auth.users,`) ||
		!strings.Contains(err.Error(), `unknown table "storage.bucket" (did you mean storage.buckets,`) {
		t.Errorf("err = %v", err)
	}
}

// TestSelectPolicyFunction: a function used only by a policy (Supabase's auth.uid())
// is emitted just before the policy, after the data.
func TestSelectPolicyFunction(t *testing.T) {
	t.Parallel()
	dump := `-- Name: auth; Type: SCHEMA; Schema: -; Owner: -
CREATE SCHEMA auth;
-- Name: uid(); Type: FUNCTION; Schema: auth; Owner: -
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS $$ select 'x'::uuid $$;
-- Name: unused(); Type: FUNCTION; Schema: auth; Owner: -
CREATE FUNCTION auth.unused() RETURNS int LANGUAGE sql AS $$ select 1 $$;
-- Name: notes; Type: TABLE; Schema: public; Owner: -
CREATE TABLE public.notes (id int, owner uuid);
-- Name: other; Type: TABLE; Schema: public; Owner: -
CREATE TABLE public.other (id int);
-- Data for Name: notes; Type: TABLE DATA; Schema: public; Owner: -
COPY public.notes (id, owner) FROM stdin;
1	\N
\.
-- Data for Name: other; Type: TABLE DATA; Schema: public; Owner: -
COPY public.other (id) FROM stdin;
1
\.
-- Name: notes owner_only; Type: POLICY; Schema: public; Owner: -
CREATE POLICY owner_only ON public.notes USING ((owner = auth.uid()));
-- Name: other p; Type: POLICY; Schema: public; Owner: -
CREATE POLICY p ON public.other USING (auth.unused() = 1);
`
	sel := Select(NewReader(strings.NewReader(dump)), []QualifiedName{{Schema: "public", Name: "notes"}})
	var got []string
	eachEntry(t, "select", sel.Next, func(e Entry) { got = append(got, e.FirstLine()) })
	want := []string{
		"CREATE SCHEMA auth;",
		"CREATE TABLE public.notes (id int, owner uuid);",
		"COPY public.notes (id, owner) FROM stdin;",
		"CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS $$ select 'x'::uuid $$;",
		"CREATE POLICY owner_only ON public.notes USING ((owner = auth.uid()));",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
