package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/restoreportal/portal/internal/tickets"
)

// TestTicketShowsItsStepLog: the steps a restore's attempts recorded are on
// the ticket page, with what each made and moved; a step whose attempt died
// says it did not finish.
func TestTicketShowsItsStepLog(t *testing.T) {
	t.Parallel()
	p := newPortal(t)
	tk := p.succeededFull(t)
	ctx := context.Background()
	killed, err := tickets.StepStart(ctx, p.pool, tk.ID, tickets.StepOpRestore, 1, "apply")
	if err != nil {
		t.Fatal(err)
	}
	done, err := tickets.StepStart(ctx, p.pool, tk.ID, tickets.StepOpRestore, 2, "safety snapshot")
	if err != nil {
		t.Fatal(err)
	}
	n := int64(3 << 20)
	if err := tickets.StepFinish(ctx, p.pool, done, []string{"daily/alpha/safety.sql.gz"}, &n); err != nil {
		t.Fatal(err)
	}
	if err := tickets.StepFinish(ctx, p.pool, done, nil, nil); err == nil {
		t.Fatal("a step was finished twice")
	}
	op := p.login(t, "operator@example.com")
	_, body := op.get(fmt.Sprintf("/tickets/%d", tk.ID))
	for _, want := range []string{`id="steps"`, "not finished (its attempt stopped)", "daily/alpha/safety.sql.gz", "3.0 MiB", "restore 2"} {
		if !strings.Contains(body, want) {
			t.Fatalf("ticket page lacks %q (step %d unfinished):\n%s", want, killed, body)
		}
	}
}
