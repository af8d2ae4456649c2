package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/config"
)

func TestClustersFromListAndFileNeverPrinted(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "clusters")
	body := "# name url\neu-2 postgres://admin:filesecret@eu2.db:5432/postgres\n\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(env(
		"PORTAL_PROJECTS_ADMIN_URL", "postgres://admin:defaultsecret@main.db:5432/postgres",
		"PORTAL_CLUSTERS", "eu-1=postgres://admin:listsecret@eu1.db:5432/postgres, us_1=postgres://u@us1.db/postgres",
		"PORTAL_CLUSTERS_FILE", file))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.ClusterNames(), " "); got != "default eu-1 eu-2 us_1" {
		t.Fatalf("clusters %q", got)
	}
	if c.Clusters["default"] != c.ProjectsAdminURL || !strings.Contains(c.Clusters["eu-2"], "eu2.db") {
		t.Fatalf("cluster URLs: %v", c.ClusterNames())
	}
	var sb strings.Builder
	c.Print(&sb)
	for _, secret := range []string{"defaultsecret", "listsecret", "filesecret", "eu1.db", "eu2.db"} {
		if strings.Contains(sb.String(), secret) {
			t.Errorf("Print shows %q:\n%s", secret, sb.String())
		}
	}
	if !strings.Contains(sb.String(), "default,eu-1,eu-2,us_1") {
		t.Errorf("Print lacks the cluster names:\n%s", sb.String())
	}
}

func TestClustersRejectedWithoutEchoingTheURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, list, wantVar string }{
		{"no equals", "eu-1 postgres://a:pw@h/x", "PORTAL_CLUSTERS"},
		{"bad name", "EU 1=postgres://a:pw@h/x", "PORTAL_CLUSTERS"},
		{"redefines default", "default=postgres://a:pw@h/x", "PORTAL_CLUSTERS"},
		{"not postgres", "eu-1=mysql://a:pw@h/x", "PORTAL_CLUSTERS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(env("PORTAL_CLUSTERS", tc.list))
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Var != tc.wantVar {
				t.Fatalf("want an error naming %s, got %v", tc.wantVar, err)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error echoes the URL: %v", err)
			}
		})
	}
	_, err := config.Load(env("PORTAL_CLUSTERS_FILE", filepath.Join(t.TempDir(), "missing")))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "PORTAL_CLUSTERS_FILE" {
		t.Fatalf("missing file: %v", err)
	}
}

func TestExtensionsAllowDefault(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(c.ExtensionsAllow, ","), "citext,pgcrypto") || strings.Contains(strings.Join(c.ExtensionsAllow, ","), "dblink") {
		t.Fatalf("default allowlist %v", c.ExtensionsAllow)
	}
}
