package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Relay TLS modes (PORTAL_SMTP_RELAY_TLS).
const (
	RelayStartTLS = "starttls" // STARTTLS when offered (the default)
	RelayRequired = "required" // STARTTLS, or fail
	RelayTLS      = "tls"      // implicit TLS from the first byte (port 465)
	RelayOff      = "off"      // never TLS
)

// RelayOptions say how Send talks to the relay.
type RelayOptions struct {
	// TLS is one of RelayStartTLS (empty means it), RelayRequired,
	// RelayTLS, RelayOff.
	TLS string
	// CAFile is a PEM file of the CAs the relay's certificate must chain to;
	// empty means the system's.
	CAFile string
	// ServerName checks the relay's certificate; empty means relayAddr's
	// host.
	ServerName string
	// User and Password, when set, authenticate with SMTP AUTH (PLAIN, else
	// LOGIN), and only over TLS: without it Send fails with
	// ErrAuthWithoutTLS before sending anything.
	User     string
	Password string
}

var (
	// ErrAuthWithoutTLS is returned when AUTH would send the password in
	// the clear: the relay offered no TLS.
	ErrAuthWithoutTLS = errors.New("mail: send: the relay offers no TLS; the password is not sent in the clear")
	// ErrNoTLS is returned in RelayRequired mode when the relay does not
	// offer STARTTLS.
	ErrNoTLS = errors.New("mail: send: the relay does not offer STARTTLS (PORTAL_SMTP_RELAY_TLS=required)")
	// ErrNoAuth is returned when a user is set but the relay offers
	// neither PLAIN nor LOGIN.
	ErrNoAuth = errors.New("mail: send: the relay offers no AUTH PLAIN or LOGIN")
)

// LoadCAs reads a PEM file of certificates into a pool.
func LoadCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// SendWith is Send with the relay's TLS and AUTH settings.
func SendWith(ctx context.Context, relayAddr string, o RelayOptions, from string, to []string, raw []byte) error {
	if len(to) == 0 {
		return errors.New("mail: send: no recipients")
	}
	mode := o.TLS
	if mode == "" {
		mode = RelayStartTLS
	}
	host, _, err := net.SplitHostPort(relayAddr)
	if err != nil {
		return fmt.Errorf("mail: send: relay %q: %w", relayAddr, err)
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if o.ServerName != "" {
		tc.ServerName = o.ServerName
	}
	if o.CAFile != "" {
		if tc.RootCAs, err = LoadCAs(o.CAFile); err != nil {
			return fmt.Errorf("mail: send: CA file: %w", err)
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", relayAddr)
	if err != nil {
		return fmt.Errorf("mail: send: dial %s: %w", relayAddr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	helloName := "localhost"
	if _, domain, ok := strings.Cut(from, "@"); ok && domain != "" && !strings.ContainsAny(domain, " \r\n") {
		helloName = domain
	}

	var c *smtp.Client
	secure := false
	switch mode {
	case RelayTLS:
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return sendErr(ctx, fmt.Errorf("TLS with %s: %w", relayAddr, err))
		}
		c, secure = smtp.NewClient(tconn), true
	case RelayOff:
		c = smtp.NewClient(conn)
	default:
		tconn, offered, err := startTLS(ctx, conn, helloName, tc)
		switch {
		case err != nil:
			return sendErr(ctx, err)
		case offered:
			c, secure = smtp.NewClient(tconn), true
		case mode == RelayRequired:
			return ErrNoTLS
		default:
			c = smtp.NewClient(tconn)
		}
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		c.CommandTimeout = min(c.CommandTimeout, left)
		c.SubmissionTimeout = min(c.SubmissionTimeout, left)
	}
	if err := c.Hello(helloName); err != nil {
		return sendErr(ctx, err)
	}
	if o.User != "" {
		if !secure {
			return ErrAuthWithoutTLS
		}
		var a sasl.Client
		switch {
		case c.SupportsAuth(sasl.Plain):
			a = sasl.NewPlainClient("", o.User, o.Password)
		case c.SupportsAuth(sasl.Login):
			a = sasl.NewLoginClient(o.User, o.Password)
		default:
			return ErrNoAuth
		}
		if err := c.Auth(a); err != nil {
			return sendErr(ctx, fmt.Errorf("AUTH as %s: %w", o.User, err))
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return sendErr(ctx, err)
	}
	if err := c.Quit(); err != nil {
		return sendErr(ctx, err)
	}
	return nil
}

// startTLS reads the greeting, says EHLO as helloName and, when the relay
// offers STARTTLS, upgrades the connection (offered true). go-smtp's client
// starts TLS only as its very first step and greets as "localhost"; doing
// this step here keeps one connection and the right name. The returned
// connection replays a greeting, since the client reads one first.
func startTLS(ctx context.Context, conn net.Conn, helloName string, tc *tls.Config) (net.Conn, bool, error) {
	text := textproto.NewConn(conn)
	if _, _, err := text.ReadResponse(220); err != nil {
		return nil, false, fmt.Errorf("greeting: %w", err)
	}
	id, err := text.Cmd("EHLO %s", helloName)
	if err != nil {
		return nil, false, err
	}
	text.StartResponse(id)
	_, msg, err := text.ReadResponse(250)
	text.EndResponse(id)
	if err != nil {
		return nil, false, fmt.Errorf("EHLO: %w", err)
	}
	offered := false
	for _, l := range strings.Split(msg, "\n") {
		if strings.EqualFold(strings.Fields(l + " ")[0], "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		// The client starts over on the same connection: a second EHLO
		// is allowed and resets the session (RFC 5321 4.1.4).
		return &greetedConn{Conn: conn, r: io.MultiReader(strings.NewReader("220 plain\r\n"), conn)}, false, nil
	}
	id, err = text.Cmd("STARTTLS")
	if err != nil {
		return nil, false, err
	}
	text.StartResponse(id)
	_, _, err = text.ReadResponse(220)
	text.EndResponse(id)
	if err != nil {
		return nil, false, fmt.Errorf("STARTTLS: %w", err)
	}
	tconn := tls.Client(conn, tc)
	if err := tconn.HandshakeContext(ctx); err != nil {
		return nil, false, fmt.Errorf("TLS: %w", err)
	}
	return &greetedConn{Conn: tconn, r: io.MultiReader(strings.NewReader("220 TLS\r\n"), tconn)}, true, nil
}

// greetedConn replays a greeting before the connection's own bytes.
type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) { return g.r.Read(p) }
