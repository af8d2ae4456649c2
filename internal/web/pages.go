package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/audit"
	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
	"github.com/restoreportal/portal/web/templates"
)

func (s *Server) dashboard(c echo.Context) error {
	o, err := tickets.OverviewGet(c.Request().Context(), s.Pool, dashboardAwaiting)
	if err != nil {
		return err
	}
	p := templates.DashboardPage{Base: s.base(c, "Dashboard", "dashboard"), Active: o.Active, Awaiting: o.Awaiting, Now: time.Now()}
	if p.Alarms, err = s.healthAlarms(c.Request().Context()); err != nil {
		return err
	}
	for _, st := range tickets.States {
		p.Counts = append(p.Counts, templates.StateCount{State: st, N: o.Counts[st]})
	}
	return renderPage(c, http.StatusOK, templates.Dashboard(p))
}

func (s *Server) account(c echo.Context) error {
	return s.renderAccount(c, http.StatusOK, "", "")
}

func (s *Server) renderAccount(c echo.Context, status int, newToken, msg string) error {
	u := currentUser(c)
	toks, err := auth.TokenListByUser(c.Request().Context(), s.Pool, u.ID)
	if err != nil {
		return err
	}
	return renderPage(c, status, templates.Account(templates.AccountPage{Base: s.base(c, "Account", "account"),
		Tokens: toks, NewToken: newToken, Error: msg}))
}

func (s *Server) auditActor(c echo.Context) audit.Actor {
	u := currentUser(c)
	return audit.Actor{ID: u.ID, Name: u.Email, Address: c.RealIP()}
}

// tokenCreate makes an API token and shows it once.
func (s *Server) tokenCreate(c echo.Context) error {
	u := currentUser(c)
	_, secret, err := auth.CreateToken(c.Request().Context(), s.Pool, s.auditActor(c), u.ID, c.FormValue("name"))
	if err != nil {
		if userFacing(err) {
			_, msg, _ := statusOf(err)
			return s.renderAccount(c, http.StatusUnprocessableEntity, "", msg)
		}
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.renderAccount(c, http.StatusOK, secret, "")
}

func (s *Server) tokenRevoke(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "no such token")
	}
	if err := auth.RevokeToken(c.Request().Context(), s.Pool, s.auditActor(c), currentUser(c).ID, id); err != nil {
		return err
	}
	return s.redirectFlash(c, "/account", "ok", "Token revoked.")
}

func (s *Server) userList(c echo.Context) error {
	return s.renderUsers(c, http.StatusOK, "", "", "")
}

func (s *Server) renderUsers(c echo.Context, status int, msg, createdEmail, createdPassword string) error {
	us, err := auth.UserList(c.Request().Context(), s.Pool)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return renderPage(c, status, templates.Users(templates.UsersPage{Base: s.base(c, "Users", "users"), Users: us,
		Roles: auth.Roles, Error: msg, CreatedEmail: createdEmail, CreatedPassword: createdPassword}))
}

// userCreate adds a user; a generated password is shown once.
func (s *Server) userCreate(c echo.Context) error {
	role, err := auth.ParseRole(c.FormValue("role"))
	if err == nil {
		given := c.FormValue("password")
		var u auth.User
		var pw string
		u, pw, err = auth.CreateUser(c.Request().Context(), s.Pool, s.auditActor(c),
			auth.NewUser{Email: c.FormValue("email"), Name: c.FormValue("name"), Role: role, Password: given})
		if err == nil {
			if given != "" {
				pw = ""
			}
			if pw == "" {
				return s.redirectFlash(c, "/users", "ok", "User "+u.Email+" created.")
			}
			return s.renderUsers(c, http.StatusOK, "", u.Email, pw)
		}
	}
	if userFacing(err) {
		code, msg, _ := statusOf(err)
		return s.renderUsers(c, code, msg, "", "")
	}
	return err
}

func (s *Server) userUpdate(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "no such user")
	}
	role, err := auth.ParseRole(c.FormValue("role"))
	if err == nil {
		_, err = auth.UpdateUser(c.Request().Context(), s.Pool, s.auditActor(c), id,
			auth.UserChange{Name: c.FormValue("name"), Role: role, Disabled: c.FormValue("disabled") != ""})
	}
	if err == nil {
		return s.redirectFlash(c, "/users", "ok", "User saved.")
	}
	var ve *auth.ValidationError
	if errors.As(err, &ve) {
		return s.renderUsers(c, http.StatusUnprocessableEntity, ve.Error(), "", "")
	}
	return err
}

// userSetPassword replaces a user's password (ending their sessions); an
// empty one is generated and shown once.
func (s *Server) userSetPassword(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "no such user")
	}
	ctx := c.Request().Context()
	u, err := auth.UserGet(ctx, s.Pool, id)
	if err != nil {
		return err
	}
	pw := c.FormValue("password")
	generated := pw == ""
	if generated {
		pw = auth.GeneratePassword()
	}
	if err := auth.SetPassword(ctx, s.Pool, s.auditActor(c), id, pw); err != nil {
		if userFacing(err) {
			code, msg, _ := statusOf(err)
			return s.renderUsers(c, code, msg, "", "")
		}
		return err
	}
	if !generated {
		return s.redirectFlash(c, "/users", "ok", "Password of "+u.Email+" changed; their sessions ended.")
	}
	return s.renderUsers(c, http.StatusOK, "", u.Email, pw)
}
