// Package smtptest runs SMTP servers for tests: the portal's intake listener
// or a fake relay. It imports only go-smtp, so package mail's own tests may
// use it too.
package smtptest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Serve runs srv on a listener on addr ("127.0.0.1:0" for a free port) until
// the test ends, then shuts it down (waiting up to 5s for open sessions) and
// waits for Serve to return. It returns the address srv listens on.
func Serve(t testing.TB, srv *smtp.Server, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return l.Addr().String()
}
