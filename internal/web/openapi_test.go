package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/auth"
)

// TestOpenAPIMatchesRoutes: the OpenAPI description the portal serves names
// every /api/v1 route of the router, and nothing the router does not serve;
// every operation has a summary and its responses.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	req, _ := http.NewRequest(http.MethodGet, p.srv.URL+"/api/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+p.token(t, auth.RoleViewer))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: %d %s", res.StatusCode, body)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	routes := map[string]bool{}
	for _, r := range p.e.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == "echo_route_not_found" {
			continue
		}
		routes[strings.ToLower(r.Method)+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			documented[method+" "+path] = true
			if op["summary"] == nil || op["responses"] == nil {
				t.Errorf("%s %s: no summary or responses", method, path)
			}
		}
	}
	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routes[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes the OpenAPI description leaves out: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented operations the router does not serve: %v", extra)
	}
	if len(routes) < 20 {
		t.Errorf("only %d /api/v1 routes found: %v", len(routes), routes)
	}
}
