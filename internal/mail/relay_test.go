package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/restoreportal/portal/internal/mail/smtptest"
)

// testCert makes a self-signed certificate for 127.0.0.1 and writes it as
// a CA file; the relay client trusts it through RelayOptions.CAFile.
func testCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"relay.test"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// authRelay is a relay that wants SMTP AUTH PLAIN, as providers do; it
// records what it was told.
type authRelay struct {
	mu       sync.Mutex
	authed   []string // "user:password" of each AUTH it received
	mails    int
	insecure bool // offer AUTH without TLS (as a badly set up relay does)
}

func (r *authRelay) NewSession(c *smtp.Conn) (smtp.Session, error) { return &authSession{r: r}, nil }

type authSession struct {
	r    *authRelay
	user string
}

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.r.mu.Lock()
		s.r.authed = append(s.r.authed, user+":"+pass)
		s.r.mu.Unlock()
		if user != "portal" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *authSession) Mail(string, *smtp.MailOptions) error {
	if s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	return nil
}
func (s *authSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *authSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.mails++
	s.r.mu.Unlock()
	return nil
}
func (s *authSession) Reset()        {}
func (s *authSession) Logout() error { return nil }

func startAuthRelay(t *testing.T, r *authRelay, cert *tls.Certificate) string {
	t.Helper()
	srv := smtp.NewServer(r)
	srv.Domain = "relay.test"
	srv.AllowInsecureAuth = r.insecure
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	return smtptest.Serve(t, srv, "127.0.0.1:0")
}

var testRaw = []byte("From: restore@support.example.com\r\nTo: dana@customer.example\r\nSubject: hi\r\n\r\nhello\r\n")

// TestSendSTARTTLSAuth: the relay client upgrades with STARTTLS, checks the
// relay's certificate against the configured CA, and authenticates; the
// relay gets the mail.
func TestSendSTARTTLSAuth(t *testing.T) {
	t.Parallel()
	cert, ca := testCert(t)
	r := &authRelay{}
	addr := startAuthRelay(t, r, &cert)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := RelayOptions{CAFile: ca, User: "portal", Password: "s3cret"}
	if err := SendWith(ctx, addr, o, "restore@support.example.com", []string{"dana@customer.example"}, testRaw); err != nil {
		t.Fatalf("send over STARTTLS with AUTH: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mails != 1 || len(r.authed) != 1 || r.authed[0] != "portal:s3cret" {
		t.Errorf("relay got %d mails, auth %q", r.mails, r.authed)
	}
}

// TestSendRefusesAuthWithoutTLS: a relay that offers AUTH but no TLS never
// sees the password, and a relay whose certificate is not trusted neither.
func TestSendRefusesAuthWithoutTLS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	plain := &authRelay{insecure: true}
	addr := startAuthRelay(t, plain, nil)
	err := SendWith(ctx, addr, RelayOptions{User: "portal", Password: "s3cret"}, "restore@support.example.com", []string{"dana@customer.example"}, testRaw)
	if !errors.Is(err, ErrAuthWithoutTLS) {
		t.Errorf("AUTH without TLS: err %v, want ErrAuthWithoutTLS", err)
	}
	err = SendWith(ctx, addr, RelayOptions{TLS: RelayRequired}, "restore@support.example.com", []string{"dana@customer.example"}, testRaw)
	if !errors.Is(err, ErrNoTLS) {
		t.Errorf("required TLS from a plain relay: err %v, want ErrNoTLS", err)
	}

	cert, _ := testCert(t)
	_, otherCA := testCert(t)
	untrusted := &authRelay{}
	uaddr := startAuthRelay(t, untrusted, &cert)
	err = SendWith(ctx, uaddr, RelayOptions{CAFile: otherCA, User: "portal", Password: "s3cret"}, "restore@support.example.com", []string{"dana@customer.example"}, testRaw)
	var uerr x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &uerr) {
		t.Errorf("untrusted certificate: err %v", err)
	}
	for _, r := range []*authRelay{plain, untrusted} {
		r.mu.Lock()
		if len(r.authed) != 0 || r.mails != 0 {
			t.Errorf("the relay saw AUTH %q / %d mails", r.authed, r.mails)
		}
		r.mu.Unlock()
	}
}

// TestIntakeSTARTTLS: the intake listener offers STARTTLS with its
// certificate; a sender that requires TLS delivers, and the envelope and
// the trace header say it came over TLS. Plain SMTP still works.
func TestIntakeSTARTTLS(t *testing.T) {
	t.Parallel()
	cert, ca := testCert(t)
	var in inbox
	srv := NewSMTPServer("127.0.0.1:0", SMTPOptions{SupportAddresses: []string{"restore@support.example.com"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}, in.deliver)
	addr := smtptest.Serve(t, srv, "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	to := []string{"restore@support.example.com"}
	if err := SendWith(ctx, addr, RelayOptions{TLS: RelayRequired, CAFile: ca}, "dana@customer.example", to, testRaw); err != nil {
		t.Fatalf("send over STARTTLS: %v", err)
	}
	if err := SendWith(ctx, addr, RelayOptions{TLS: RelayOff}, "dana@customer.example", to, testRaw); err != nil {
		t.Fatalf("send plain: %v", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.envs) != 2 || !in.envs[0].TLS || in.envs[1].TLS {
		t.Fatalf("envelopes %+v", in.envs)
	}
	if !strings.Contains(string(in.raws[0]), "with ESMTPS;") || string(StripTrace(in.raws[0])) != string(testRaw) {
		t.Errorf("trace of the TLS mail:\n%s", in.raws[0])
	}
	if in.envs[0].Helo != "customer.example" {
		t.Errorf("EHLO name %q", in.envs[0].Helo)
	}
}
