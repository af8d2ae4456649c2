package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/sync/errgroup"
)

// TestIntakeLoad sends 1,000 mails over SMTP on 8 concurrent connections:
// 704 new requests (complete ones and ones missing their mode) and 296
// replies to earlier requests, plus 40 re-sends of mails already sent. Every
// mail is stored exactly once and becomes a ticket or a thread entry on the
// right ticket; every request is answered.
func TestIntakeLoad(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{quietLogger: true})
	const conns, perConn = 8, 125
	at := time.Now().Add(-30*time.Hour).UTC().Format("2006-01-02 15:04") + " UTC"

	type sent struct{ id, parent string }
	var mu sync.Mutex
	var all []sent
	start := time.Now()
	var g errgroup.Group
	for c := range conns {
		g.Go(func() error {
			cl, err := smtp.Dial(s.smtp)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.Hello("mx.load.example"); err != nil {
				return err
			}
			var mine []string // this connection's new requests
			var resend [][]byte
			for i := range perConn {
				from := fmt.Sprintf("user%02d@customer.example", (c*perConn+i)%20)
				id := fmt.Sprintf("load-%d-%d@customer.example", c, i)
				var raw []byte
				parent := ""
				switch {
				case i%10 == 3 || i%10 == 6 || i%10 == 9: // a reply to one of our earlier requests
					parent = mine[len(mine)-1-(i%3)]
					raw = compose(from, "Re: restore", "Also please only the orders table.\n\n> earlier text", id, parent, time.Now())
				case i%2 == 0:
					raw = compose(from, "restore proj-abc", "Please restore proj-abc to "+at+", full database, into a new project.", id, "", time.Now())
					mine = append(mine, id)
				default:
					raw = compose(from, "restore", "please restore proj-alpha to yesterday 3pm", id, "", time.Now())
					mine = append(mine, id)
				}
				if i%25 == 0 {
					resend = append(resend, raw)
				}
				if err := cl.SendMail(from, []string{support}, bytes.NewReader(raw)); err != nil {
					return fmt.Errorf("mail %s: %w", id, err)
				}
				mu.Lock()
				all = append(all, sent{id, parent})
				mu.Unlock()
			}
			for _, raw := range resend { // a sender retrying after a lost answer
				if err := cl.SendMail("retry@customer.example", []string{support}, bytes.NewReader(raw)); err != nil {
					return err
				}
			}
			return cl.Quit()
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	accepted := time.Since(start)
	s.settle()
	done := time.Since(start)
	n := len(all)
	t.Logf("%d mails (+%d re-sends) accepted over SMTP in %s: %.0f mails/s stored; all processed and answered in %s: %.0f mails/s end to end",
		n, conns*5, accepted.Round(time.Millisecond), float64(n)/accepted.Seconds(), done.Round(time.Millisecond), float64(n)/done.Seconds())

	ctx := context.Background()
	var stored, processed, distinct, tickets, replies, answered int
	if err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'processed' AND ticket_id IS NOT NULL AND entry_id IS NOT NULL),
			count(DISTINCT message_id), count(*) FILTER (WHERE outcome = 'new_ticket'), count(*) FILTER (WHERE outcome = 'reply'),
			(SELECT count(*) FROM outbound_mail WHERE status = 'sent')
		FROM inbound_mail`).Scan(&stored, &processed, &distinct, &tickets, &replies, &answered); err != nil {
		t.Fatal(err)
	}
	if stored != n || distinct != n || processed != n {
		t.Errorf("stored %d (%d distinct), processed into a ticket or entry %d; want %d each", stored, distinct, processed, n)
	}
	wantReplies := 0
	for _, m := range all {
		if m.parent != "" {
			wantReplies++
		}
	}
	if tickets != n-wantReplies || replies != wantReplies {
		t.Errorf("%d new tickets, %d replies; want %d and %d", tickets, replies, n-wantReplies, wantReplies)
	}
	// Each reply is on its parent's ticket.
	var misfiled int
	parents := map[string]string{}
	for _, m := range all {
		if m.parent != "" {
			parents[m.id] = m.parent
		}
	}
	for id, parent := range parents {
		if r, p := s.mailByMessageID(id), s.mailByMessageID(parent); r.TicketID != p.TicketID {
			t.Logf("reply %s %+v, parent %s %+v", id, r, parent, p)
			misfiled++
		}
	}
	if misfiled > 0 {
		t.Errorf("%d replies not on their parent's ticket", misfiled)
	}
	if answered < n-wantReplies || s.relay.count() != answered {
		t.Errorf("%d answers sent, relay got %d; want at least one per ticket", answered, s.relay.count())
	}
}
