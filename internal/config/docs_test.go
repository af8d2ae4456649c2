package config_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/restoreportal/portal/internal/config"
)

// TestComposeUsesKnownVariables parses compose.yaml and checks that every
// PORTAL_ variable it sets is one the binaries read, so the container setup
// cannot drift from the config table.
func TestComposeUsesKnownVariables(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Environment map[string]any `yaml:"environment"`
			Command     []string       `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	known := config.Names()
	for _, svc := range []string{"portal", "worker"} {
		s, ok := doc.Services[svc]
		if !ok {
			t.Fatalf("compose.yaml has no %s service", svc)
		}
		if len(s.Environment) == 0 {
			t.Fatalf("%s has no environment", svc)
		}
		env := func(k string) string {
			if v, ok := s.Environment[k]; ok {
				return strings.TrimSpace(strings.Trim(yamlString(v), `"`))
			}
			return ""
		}
		for k := range s.Environment {
			if strings.HasPrefix(k, "PORTAL_") && !slices.Contains(known, k) {
				t.Errorf("%s sets %s, which no binary reads", svc, k)
			}
		}
		if _, err := config.Load(env); err != nil {
			t.Errorf("%s's environment does not load: %v", svc, err)
		}
	}
}

func yamlString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	default:
		return ""
	}
}

// TestReadmeDocumentsEveryVariable checks the README's configuration table
// lists every variable the binaries read, and nothing they do not.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `(PORTAL_[A-Z0-9_]+)`").FindAllStringSubmatch(string(raw), -1)
	var documented []string
	for _, r := range rows {
		documented = append(documented, r[1])
	}
	for _, name := range config.Names() {
		if !slices.Contains(documented, name) {
			t.Errorf("README's configuration table lacks %s", name)
		}
	}
	for _, name := range documented {
		if !slices.Contains(config.Names(), name) {
			t.Errorf("README documents %s, which no binary reads", name)
		}
	}
}
