package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/restoreportal/portal/internal/config"
)

// TestLoadS3 checks the S3 settings worker apply reads: the same defaults as
// Load, no bucket required, and the same checks naming their variable.
func TestLoadS3(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	s, err := config.LoadS3(none)
	if err != nil {
		t.Fatal(err)
	}
	full, err := config.Load(env())
	if err != nil {
		t.Fatal(err)
	}
	if s.Region != "us-east-1" || !s.PathStyle || s.RetryFor != 10*time.Minute || s.IdleTimeout != time.Minute ||
		s.Prefix != full.S3.Prefix || s.Region != full.S3.Region {
		t.Errorf("LoadS3 defaults %+v differ from Load's %+v", s, full.S3)
	}
	vars := map[string]string{"PORTAL_S3_ENDPOINT": "http://127.0.0.1:7070", "PORTAL_S3_ACCESS_KEY": "k",
		"PORTAL_S3_SECRET_KEY": "s", "PORTAL_S3_PATH_STYLE": "false", "PORTAL_S3_REGION": "eu-west-1"}
	s, err = config.LoadS3(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.Endpoint != vars["PORTAL_S3_ENDPOINT"] || s.AccessKey != "k" || s.SecretKey != "s" || s.PathStyle || s.Region != "eu-west-1" {
		t.Errorf("LoadS3 = %+v, want the environment's values", s)
	}
	for _, tc := range []struct{ key, val, wantVar string }{
		{"PORTAL_S3_ENDPOINT", "127.0.0.1:7070", "PORTAL_S3_ENDPOINT"},
		{"PORTAL_S3_SECRET_KEY", "s", "PORTAL_S3_SECRET_KEY"},
		{"PORTAL_S3_PATH_STYLE", "yes please", "PORTAL_S3_PATH_STYLE"},
		{"PORTAL_S3_RETRY_FOR", "0s", "PORTAL_S3_RETRY_FOR"},
	} {
		_, err := config.LoadS3(func(k string) string {
			if k == tc.key {
				return tc.val
			}
			return ""
		})
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != tc.wantVar {
			t.Errorf("%s=%q: err = %v, want a config error naming %s", tc.key, tc.val, err, tc.wantVar)
		}
	}
}
