package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/config"
)

func env(kv ...string) func(string) string {
	m := map[string]string{"PORTAL_S3_BUCKET": "snaps"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env())
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.S3.Prefix != "snapshots" || !c.S3.PathStyle || c.Worker.KeepFor != 7*24*time.Hour ||
		c.ApprovalTTL != 24*time.Hour || c.Worker.CaptureMemoryMiB != 150 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

// PORTAL_DRILL_HEAP_CHECK defaults to computed (see config.HeapCheckComputed
// for why), takes all and none, in any case and with spaces around.
func TestDrillHeapCheckParses(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":           config.HeapCheckComputed,
		"computed":   config.HeapCheckComputed,
		"all":        config.HeapCheckAll,
		" None ":     config.HeapCheckNone,
		"ALL":        config.HeapCheckAll,
		"\tcomputed": config.HeapCheckComputed,
	} {
		c, err := config.Load(env("PORTAL_DRILL_HEAP_CHECK", in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if c.Drills.HeapCheck != want {
			t.Fatalf("%q parsed as %q, want %q", in, c.Drills.HeapCheck, want)
		}
	}
	for _, bad := range []string{"yes", "heapallindexed", "computed,all", "1"} {
		_, err := config.Load(env("PORTAL_DRILL_HEAP_CHECK", bad))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != "PORTAL_DRILL_HEAP_CHECK" || !strings.Contains(err.Error(), "computed, all, none") {
			t.Fatalf("%q: want an error naming PORTAL_DRILL_HEAP_CHECK and its values, got %v", bad, err)
		}
	}
}

func TestLoadRejectsBadValuesNamingTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		getenv  func(string) string
		wantVar string
	}{
		{"missing bucket", env("PORTAL_S3_BUCKET", ""), "PORTAL_S3_BUCKET"},
		{"malformed database URL", env("PORTAL_DATABASE_URL", "mysql://x"), "PORTAL_DATABASE_URL"},
		{"database URL without host", env("PORTAL_DATABASE_URL", "postgres:///portal"), "PORTAL_DATABASE_URL"},
		{"admin URL garbage", env("PORTAL_PROJECTS_ADMIN_URL", "::::"), "PORTAL_PROJECTS_ADMIN_URL"},
		{"endpoint not a URL", env("PORTAL_S3_ENDPOINT", "127.0.0.1:7070"), "PORTAL_S3_ENDPOINT"},
		{"secret without key", env("PORTAL_S3_SECRET_KEY", "s"), "PORTAL_S3_SECRET_KEY"},
		{"bad bool", env("PORTAL_S3_PATH_STYLE", "yes please"), "PORTAL_S3_PATH_STYLE"},
		{"bad duration", env("PORTAL_KEEP_FOR", "7 days"), "PORTAL_KEEP_FOR"},
		{"bad approval TTL", env("PORTAL_APPROVAL_TTL", "-1h"), "PORTAL_APPROVAL_TTL"},
		{"bad int", env("PORTAL_WORKER_CONCURRENCY", "two"), "PORTAL_WORKER_CONCURRENCY"},
		{"zero concurrency", env("PORTAL_WORKER_CONCURRENCY", "0"), "PORTAL_WORKER_CONCURRENCY"},
		{"bad listen addr", env("PORTAL_HTTP_ADDR", "8080"), "PORTAL_HTTP_ADDR"},
		{"bad log level", env("PORTAL_LOG_LEVEL", "loud"), "PORTAL_LOG_LEVEL"},
		{"split threshold too small", env("PORTAL_SPLIT_TABLES_MIB", "8"), "PORTAL_SPLIT_TABLES_MIB"},
		{"capture memory too small", env("PORTAL_CAPTURE_MEMORY_MIB", "16"), "PORTAL_CAPTURE_MEMORY_MIB"},
		{"bad schedule", env("PORTAL_CAPTURE_SCHEDULE", "2am"), "PORTAL_CAPTURE_SCHEDULE"},
		{"bad relay TLS mode", env("PORTAL_SMTP_RELAY_TLS", "maybe"), "PORTAL_SMTP_RELAY_TLS"},
		{"relay user without password", env("PORTAL_SMTP_RELAY_USER", "portal"), "PORTAL_SMTP_RELAY_PASSWORD"},
		{"AUTH with TLS off", env("PORTAL_SMTP_RELAY_USER", "portal", "PORTAL_SMTP_RELAY_PASSWORD", "pw", "PORTAL_SMTP_RELAY_TLS", "off"), "PORTAL_SMTP_RELAY_TLS"},
		{"certificate without key", env("PORTAL_SMTP_TLS_CERT", "/etc/cert.pem"), "PORTAL_SMTP_TLS_KEY"},
		{"forwarder not an address", env("PORTAL_MAIL_FORWARDERS", "support team"), "PORTAL_MAIL_FORWARDERS"},
		{"unknown heap check mode", env("PORTAL_DRILL_HEAP_CHECK", "some"), "PORTAL_DRILL_HEAP_CHECK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(tc.getenv)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			if ce.Var != tc.wantVar {
				t.Fatalf("error names %s, want %s: %v", ce.Var, tc.wantVar, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(
		"PORTAL_S3_ACCESS_KEY", "AKIA", "PORTAL_S3_SECRET_KEY", "topsecret",
		"PORTAL_DATABASE_URL", "postgres://portal:dbpassword@db:5432/portal",
		"PORTAL_INTAKE_SECRET", "hmacsecret", "PORTAL_SMTP_RELAY_USER", "portal", "PORTAL_SMTP_RELAY_PASSWORD", "relaypassword"))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	c.Print(&sb)
	out := sb.String()
	for _, secret := range []string{"topsecret", "dbpassword", "hmacsecret", "relaypassword"} {
		if strings.Contains(out, secret) {
			t.Errorf("Print shows secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "PORTAL_S3_BUCKET") || !strings.Contains(out, "snaps") {
		t.Errorf("Print lacks the bucket:\n%s", out)
	}
	for _, name := range config.Names() {
		if !strings.Contains(out, name) {
			t.Errorf("Print omits %s", name)
		}
	}
}
