package snapshots

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/restoreportal/portal/internal/testenv"
)

const sourceSchema = `
CREATE SCHEMA app;
CREATE TABLE app.users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, note text);
CREATE TABLE public.orders (id bigserial PRIMARY KEY, user_id int REFERENCES app.users (id), total numeric, tags text[]);
CREATE TABLE public."Odd Name" (k text PRIMARY KEY, v jsonb);
CREATE TABLE public.empty (id int);
INSERT INTO app.users (email, note) SELECT format('u%s@example.com', g), E'tab\there \\ and\nnewline' FROM generate_series(1, 250) g;
INSERT INTO public.orders (user_id, total, tags) SELECT 1 + g % 250, g * 1.5, ARRAY['a', 'b'] FROM generate_series(1, 1000) g;
INSERT INTO public."Odd Name" VALUES ('x', '{"a": 1}'), ('y', NULL);
CREATE INDEX orders_user ON public.orders (user_id);
`

// registeredProject makes a project database with data and registers it.
func registeredProject(t *testing.T, d Deps, ref string) string {
	t.Helper()
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sourceSchema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	if _, err := d.Pool.Exec(ctx, `INSERT INTO projects (ref, database_name, source) VALUES ($1, $2, 'registered')`,
		ref, strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Fatal(err)
	}
	return dbURL
}

// refuseInspect stands in for internal/verify.Inspect (which imports this
// package) where a test's capture must end before verification.
func refuseInspect(context.Context, Deps, string) (Inspection, error) {
	return Inspection{}, errors.New("this test does not verify")
}
