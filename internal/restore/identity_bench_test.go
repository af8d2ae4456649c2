package restore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/cluster"
	"github.com/restoreportal/portal/internal/restore"
	"github.com/restoreportal/portal/internal/testenv"
)

// BenchmarkApplyIdentity compares applying one dump (source.sql plus 300,000
// rows with an index and a CHECK) as the superuser with applying it as an
// owner role through a cluster.Session, the session made and dropped inside
// each iteration: the cost of running a dump without rights.
//
//	go test -run '^$' -bench ApplyIdentity -benchtime 3x ./internal/restore/
func BenchmarkApplyIdentity(b *testing.B) {
	src := testenv.NewDatabase(b)
	execSQL(b, src, sourceSQL+`
		CREATE FUNCTION public.positive(n bigint) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN n >= 0; END $$;
		CREATE TABLE public.bulk (id bigint PRIMARY KEY, n bigint CHECK (public.positive(n)), body text);
		INSERT INTO public.bulk SELECT g, g, md5(g::text) FROM generate_series(1, 300000) g;
		CREATE INDEX bulk_body ON public.bulk (body);`)
	dump := pgDump(b, src)
	ctx := context.Background()
	c, err := cluster.New(testenv.AdminURL(b))
	if err != nil {
		b.Fatal(err)
	}
	allow := []string{"citext", "pgcrypto"}
	b.Run("superuser", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dst := testenv.NewDatabase(b)
			b.StartTimer()
			if _, err := restore.Apply(ctx, strings.NewReader(dump), restore.Options{DatabaseURL: dst, Jobs: 2}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("owner_session", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			db := testenv.NewOwnedDatabase(b)
			b.StartTimer()
			s, err := c.OwnerSession(ctx, db.Name, db.Owner)
			if err != nil {
				b.Fatal(err)
			}
			_, err = restore.Apply(ctx, strings.NewReader(dump), restore.Options{DatabaseURL: s.URL(), Jobs: 2, Role: db.Owner,
				ExtensionsAllowed: allow, CreateExtension: func(ctx context.Context, x restore.Extension) error {
					return c.CreateExtension(ctx, db.Name, x.Name, x.Schema, allow)
				}})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Close(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
