// Package templates holds the portal's templ components. Every page takes a
// typed props struct embedding Base (title, user, flash, CSRF token, nav);
// nothing takes a map. Static assets (CSS, the live-progress script) are
// embedded here and served by internal/web; no CDN.
package templates

import (
	"embed"
	"fmt"
	"time"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/tickets"
)

// Static holds the stylesheet and the small live-progress script.
//
//go:embed static
var Static embed.FS

// StaticVersion busts caches when the assets change (set by the server).
var StaticVersion = "1"

// Base is what every page's layout needs.
type Base struct {
	Title string
	// User is the logged-in user; nil on the login and error pages.
	User *auth.User
	// Flash is a one-time message from the previous action.
	Flash Flash
	// CSRF is the session's token, put in every form.
	CSRF string
	// Nav names the active navigation entry: dashboard, tickets, projects,
	// audit, users, account.
	Nav string
	// Canonical, when set, is the address the page stands for: a page
	// rendered for a refused POST moves the browser there, so follow-up
	// links and reloads never land on the POST URL.
	Canonical string
}

// Flash is a one-time message.
type Flash struct {
	Kind string // "ok" or "error"
	Text string
}

// Can says whether the page's user has at least role.
func (b Base) Can(role auth.Role) bool { return b.User != nil && b.User.Role.AtLeast(role) }

type navItem struct {
	Key, Label, Href string
	Min              auth.Role
}

var nav = []navItem{
	{"dashboard", "Dashboard", "/", auth.RoleViewer},
	{"tickets", "Tickets", "/tickets", auth.RoleViewer},
	{"projects", "Projects", "/projects", auth.RoleViewer},
	{"audit", "Audit", "/audit", auth.RoleViewer},
	{"mail", "Mail not filed", "/mail/unfiled", auth.RoleViewer},
	{"users", "Users", "/users", auth.RoleAdmin},
	{"jobs", "Jobs", "/riverui/", auth.RoleAdmin},
	{"account", "Account", "/account", auth.RoleViewer},
}

// FormatTime writes a time for pages, in UTC.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// FormatTimeSeconds writes a time to the second, in UTC, for telling apart
// snapshots taken within a minute.
func FormatTimeSeconds(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// FormatTimePtr is FormatTime of an optional time.
func FormatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return FormatTime(*t)
}

// FormatBytes writes a size for people: 512 B, 3.4 MiB.
func FormatBytes(n int64) string { return tickets.FormatBytes(n) }

func itoa[T ~int | ~int64](n T) string { return fmt.Sprint(n) }

func staticURL(name string) string { return "/static/" + name + "?v=" + StaticVersion }
