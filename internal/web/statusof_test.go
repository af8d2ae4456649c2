package web

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/dbx"
	"github.com/restoreportal/portal/internal/drills"
	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/snapshots"
	"github.com/restoreportal/portal/internal/tickets"
)

// TestStatusOfKnowsEveryNotFound checks that the one error mapper gives 404
// for every domain's not-found sentinel (before dbx it knew only tickets'
// and auth's, so a missing snapshot or mail was a logged 500), wrapped or
// not, and that a duplicate email stays a 409.
func TestStatusOfKnowsEveryNotFound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want int
	}{
		{tickets.ErrNotFound, http.StatusNotFound},
		{auth.ErrNotFound, http.StatusNotFound},
		{drills.ErrNotFound, http.StatusNotFound},
		{snapshots.ErrNotFound, http.StatusNotFound},
		{intake.ErrNotFound, http.StatusNotFound},
		{dbx.ErrNotFound, http.StatusNotFound},
		{fmt.Errorf("snapshot 7: %w", snapshots.ErrNotFound), http.StatusNotFound},
		{auth.ErrEmailTaken, http.StatusConflict},
		{errors.New("boom"), http.StatusInternalServerError},
	} {
		if code, _, _ := statusOf(tc.err); code != tc.want {
			t.Errorf("statusOf(%v) = %d, want %d", tc.err, code, tc.want)
		}
	}
}

// TestValidationErrorsOfBothDomainsAreTheUsersToFix: a form error from auth
// (a short password) and one from tickets (a bad mode) are each a 422 naming
// the field, and the form line shows the message without the field prefix.
func TestValidationErrorsOfBothDomainsAreTheUsersToFix(t *testing.T) {
	t.Parallel()
	_, authErr := auth.HashPassword("short")
	_, ticketErr := tickets.ParseMode("overwrite-everything")
	for _, tc := range []struct {
		err   error
		field string
	}{
		{authErr, "password"},
		{fmt.Errorf("create user: %w", authErr), "password"},
		{ticketErr, "mode"},
	} {
		var ve *auth.ValidationError
		if !errors.As(tc.err, &ve) {
			t.Fatalf("%v: not a validation error", tc.err)
		}
		if code, msg, field := statusOf(tc.err); code != http.StatusUnprocessableEntity || field != tc.field || msg != ve.Error() {
			t.Errorf("statusOf(%v) = %d %q %q, want 422 %q", tc.err, code, msg, field, tc.field)
		}
		if fe := formErrorOf(tc.err, "f"); fe.Msg != ve.Msg || fe.Field != tc.field || fe.Form != "f" {
			t.Errorf("formErrorOf(%v) = %+v, want message %q on field %s", tc.err, fe, ve.Msg, tc.field)
		}
	}
}
