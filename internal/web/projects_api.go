package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/projects"
)

// POST /api/v1/projects registers where a project lives (admin only): its
// cluster, database and owner role, validated against the cluster. The body
// is {"ref", "cluster", "database", "owner_role"}; 201 with the project, 400
// naming the field to fix.
func (s *Server) projectRegistrationRoutes(g *echo.Group) {
	g.POST("/api/v1/projects", s.apiProjectRegister, s.requireRole(auth.RoleAdmin))
}

func (s *Server) apiProjectRegister(c echo.Context) error {
	var req projects.Registration
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p, err := projects.Register(c.Request().Context(), s.Pool, s.Config.Clusters, req)
	var ve *projects.ValidationError
	if errors.As(err, &ve) {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": ve.Error(), "field": ve.Field})
	}
	if err != nil {
		return err
	}
	u := currentUser(c)
	s.Log.Info("project registered", "project_ref", p.Ref, "cluster", p.Cluster, "database", p.DatabaseName, "owner_role", p.OwnerRole, "by", u.Email)
	return c.JSON(http.StatusCreated, p)
}
