package web

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/restoreportal/portal/internal/auth"
	"github.com/restoreportal/portal/internal/dbx"
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
