package mail

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a signed HTTP intake post (POST /intake/email, body: the raw
// message, Content-Type message/rfc822):
//
//	X-Portal-Timestamp: 1779000000            (Unix seconds)
//	X-Portal-Signature: sha256=<hex>          (HMAC-SHA256 of timestamp + "." + body)
//
// The timestamp is inside the signed text, so an old signed post cannot be
// replayed after maxAge with a fresh timestamp.
const (
	TimestampHeader = "X-Portal-Timestamp"
	SignatureHeader = "X-Portal-Signature"
)

// DefaultSignatureMaxAge is the window VerifySignature callers should use
// unless configured otherwise: wide enough for clock skew and retries,
// narrow enough that a captured post is soon useless.
const DefaultSignatureMaxAge = 5 * time.Minute

// Errors of VerifySignature; all mean 401 to the caller, and the handler
// should not say which one to the client.
var (
	ErrSignatureMissing = errors.New("mail: signature or timestamp missing")
	ErrSignatureInvalid = errors.New("mail: signature does not match")
	ErrSignatureExpired = errors.New("mail: signature timestamp outside the allowed window")
	ErrNoSecret         = errors.New("mail: no signing secret configured")
)

// Sign returns the two header values for body signed at ts with secret:
// the timestamp (Unix seconds) and "sha256=<hex>".
func Sign(secret []byte, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	return timestamp, "sha256=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks an intake post: the HMAC-SHA256 signature over
// timestamp + "." + body, compared in constant time, and a timestamp no
// further than maxAge from now in either direction (clocks drift both
// ways). An empty secret always fails, so a missing configuration cannot
// open the endpoint.
func VerifySignature(secret []byte, timestampHeader, signatureHeader string, body []byte, now time.Time, maxAge time.Duration) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	timestampHeader = strings.TrimSpace(timestampHeader)
	signatureHeader = strings.TrimSpace(signatureHeader)
	if timestampHeader == "" || signatureHeader == "" {
		return ErrSignatureMissing
	}
	secs, err := strconv.ParseInt(timestampHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrSignatureInvalid, truncate(timestampHeader, 20))
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > maxAge || d < -maxAge {
		return ErrSignatureExpired
	}
	hexSig, ok := strings.CutPrefix(signatureHeader, "sha256=")
	if !ok {
		return fmt.Errorf("%w: expected sha256=<hex>", ErrSignatureInvalid)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrSignatureInvalid)
	}
	if !hmac.Equal(got, mac(secret, timestampHeader, body)) {
		return ErrSignatureInvalid
	}
	return nil
}
