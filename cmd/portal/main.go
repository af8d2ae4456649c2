// Command portal serves the restore portal (pages, JSON API, mail intake) and
// administers it: migrations, demo data, staff accounts.
//
//	portal serve        run the HTTP server (and the SMTP intake when configured)
//	portal migrate      apply the portal's and River's migrations
//	portal demo         seed the demo projects and snapshots when missing
//	portal user add     create a staff user (the first admin)
//	portal project add  register a project's cluster, database and owner role
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/restoreportal/portal/internal/app"
	"github.com/restoreportal/portal/internal/demo"
	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/mail"
	"github.com/restoreportal/portal/internal/objstore"
	"github.com/restoreportal/portal/internal/web"
)

const usage = `usage: portal <command>

commands:
  serve     run the portal's HTTP server
  migrate   apply database migrations (the portal's and River's)
  demo      create the demo projects and their snapshots when missing
  user add  create a staff user: --email E --role viewer|operator|approver|admin
  token create  make an API token for a user: --user EMAIL --name NAME
  project add  register where a project lives: --ref R --database D [--cluster C] [--owner-role O]
`

func main() {
	app.Main("portal", usage, map[string]app.Command{
		"serve":   func(ctx context.Context, _ []string) error { return serve(ctx) },
		"migrate": func(ctx context.Context, _ []string) error { return migrate(ctx) },
		"demo":    func(ctx context.Context, _ []string) error { return seedDemo(ctx) },
		"user":    userCmd,
		"project": projectCmd,
		"token":   tokenCmd,
	})
}

func migrate(ctx context.Context) error {
	rt, err := app.Open(ctx, "portal", os.Stderr, app.MigrateAlways, false)
	if err != nil {
		return err
	}
	rt.Close()
	return nil
}

// openPortal starts a one-shot subcommand: config and logger (writing to
// out), then the portal's pool, without migrating.
func openPortal(ctx context.Context, out io.Writer) (app.Runtime, error) {
	return app.Open(ctx, "portal", out, app.MigrateNever, false)
}

func seedDemo(ctx context.Context) error {
	rt, err := app.Open(ctx, "portal", os.Stderr, app.MigrateNever, true)
	if err != nil {
		return err
	}
	defer rt.Close()
	return demo.Seed(ctx, demo.Deps{Config: rt.Config, Pool: rt.Pool, S3: rt.S3, Log: rt.Log, LoginsFile: os.Getenv("PORTAL_DEMO_LOGINS_FILE")})
}

func serve(ctx context.Context) error {
	rt, err := app.Open(ctx, "portal", os.Stderr, app.MigrateIfAuto, true)
	if err != nil {
		return err
	}
	defer rt.Close()
	cfg, log, pool, s3c := rt.Config, rt.Log, rt.Pool, rt.S3
	if err := objstore.Check(ctx, s3c, cfg.S3.Bucket); err != nil {
		log.Warn("S3 bucket not reachable yet; /readyz will say so", "err", err)
	}
	// Insert-only River client: the portal enqueues, workers work.
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	e, stopWeb := web.NewServer(web.Deps{Config: cfg, Pool: pool, S3: s3c, River: rc, Log: log})
	defer stopWeb() // River UI's background queries end before rt.Close closes the pool
	srv := &http.Server{Addr: cfg.HTTPAddr, Handler: e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("portal listening", "addr", cfg.HTTPAddr)
	smtpErrc := make(chan error, 1)
	var smtpSrv *smtp.Server
	if cfg.Mail.SMTPAddr != "" {
		var smtpTLS *tls.Config
		if cfg.Mail.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.Mail.TLSCert, cfg.Mail.TLSKey)
			if err != nil {
				return fmt.Errorf("PORTAL_SMTP_TLS_CERT / PORTAL_SMTP_TLS_KEY: %w", err)
			}
			smtpTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		smtpSrv = mail.NewSMTPServer(cfg.Mail.SMTPAddr, mail.SMTPOptions{SupportAddresses: cfg.Mail.SupportAddresses,
			MaxMessageBytes: cfg.Mail.MaxMessageBytes, Logger: log, TLSConfig: smtpTLS},
			func(ctx context.Context, env mail.Envelope, raw []byte) error {
				_, err := intake.Deliver(ctx, pool, rc, intake.ViaSMTP, env, raw)
				return err
			})
		go func() { smtpErrc <- smtpSrv.ListenAndServe() }()
		log.Info("smtp intake listening", "addr", cfg.Mail.SMTPAddr)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("PORTAL_HTTP_ADDR: %w", err)
	case err := <-smtpErrc:
		return fmt.Errorf("PORTAL_SMTP_ADDR: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if smtpSrv != nil {
		_ = smtpSrv.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
