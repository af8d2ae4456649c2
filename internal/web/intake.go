package web

import (
	"bytes"
	"cmp"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/restoreportal/portal/internal/intake"
	"github.com/restoreportal/portal/internal/mail"
)

// intakeEmail is POST /intake/email, for mail providers and forwarding rules:
// the body is one raw message (message/rfc822), signed with
// PORTAL_INTAKE_SECRET (mail.Sign: headers X-Portal-Timestamp and
// X-Portal-Signature). No login: the signature is the authentication. The
// mail is stored before the answer, so 202 means it will not be lost; a mail
// already stored answers 200 and is not stored twice.
func (s *Server) intakeEmail(c echo.Context) error {
	secret := s.Config.Mail.IntakeSecret
	if secret == "" {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "mail intake over HTTP is off: PORTAL_INTAKE_SECRET is not set")
	}
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		switch mt, _, _ := mime.ParseMediaType(ct); mt {
		case "application/x-www-form-urlencoded", "multipart/form-data", "application/json":
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "post the raw message as the body, Content-Type: message/rfc822")
		}
	}
	limit := cmp.Or(s.Config.Mail.MaxMessageBytes, mail.DefaultMaxMessageBytes)
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "could not read the message body")
	}
	if int64(len(body)) > limit {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "the message is larger than PORTAL_MAIL_MAX_BYTES")
	}
	if err := mail.VerifySignature([]byte(secret), r.Header.Get(mail.TimestampHeader), r.Header.Get(mail.SignatureHeader),
		body, time.Now(), mail.DefaultSignatureMaxAge); err != nil {
		// The log says which check failed; the client is not told.
		s.Log.Info("intake post refused", "reason", err, "remote_addr", c.RealIP())
		return echo.NewHTTPError(http.StatusUnauthorized,
			"signature refused: X-Portal-Signature must be sha256=<hex HMAC-SHA256 of X-Portal-Timestamp + \".\" + body> with the shared secret, and the timestamp within 5 minutes of now")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "the body is empty; post the raw message")
	}
	d, err := intake.Deliver(r.Context(), s.Pool, s.River, intake.ViaHTTP,
		mail.Envelope{RemoteAddr: c.RealIP(), ReceivedAt: time.Now()}, body)
	if err != nil {
		return err
	}
	if d.Duplicate {
		return c.JSON(http.StatusOK, map[string]any{"status": "duplicate", "message": "this mail was stored before; it is not stored again"})
	}
	return c.JSON(http.StatusAccepted, map[string]any{"status": "stored", "mail_id": d.MailID})
}
