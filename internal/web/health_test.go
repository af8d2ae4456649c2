package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/testenv"
	"github.com/restoreportal/portal/internal/web"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	cfg := testenv.Config(t)
	client, bucket := testenv.S3(t)
	pool := testenv.PortalPool(t)

	get := func(t *testing.T, deps web.Deps, path string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		web.New(deps).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	cfg.S3.Bucket = bucket
	deps := web.Deps{Config: cfg, Pool: pool, S3: client, Log: testenv.Logger(t)}

	if code, _ := get(t, deps, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get(t, deps, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d: %s", code, body)
	}

	t.Run("missing bucket names s3", func(t *testing.T) {
		d := deps
		d.Config.S3.Bucket = testenv.Name("missing-")
		code, body := get(t, d, "/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "s3:") || strings.Contains(body, "database:") {
			t.Fatalf("/readyz = %d %q, want 503 naming s3 only", code, body)
		}
	})
	t.Run("unreachable S3 and closed database name both", func(t *testing.T) {
		d := deps
		c := cfg.S3
		c.Endpoint = "http://127.0.0.1:1"
		s3c, err := objstore.New(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		d.S3 = s3c
		closed := testenv.PortalPool(t)
		closed.Close()
		d.Pool = closed
		code, body := get(t, d, "/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "s3:") || !strings.Contains(body, "database:") {
			t.Fatalf("/readyz = %d %q, want 503 naming database and s3", code, body)
		}
	})
}
