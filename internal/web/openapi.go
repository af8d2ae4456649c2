package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPI describes /api/v1 (OpenAPI 3.1). TestOpenAPIMatchesRoutes checks
// that it names exactly the router's /api/v1 routes, so nothing the API
// serves is undocumented.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) apiOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", openAPI)
}
