package mail

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SubjectTag is the tag the portal puts in the subject of its mail, so that
// a reply finds its ticket even when a mail client drops In-Reply-To.
func SubjectTag(ticketID int64) string {
	return fmt.Sprintf("[Restore #%d]", ticketID)
}

var reSubjectTag = regexp.MustCompile(`(?i)\[\s*restore\s*#\s*(\d{1,18})\s*\]`)

// ParseSubjectTag finds the ticket ID in a subject holding a SubjectTag,
// wherever it is ("Re: AW: [Restore #123] ..."). Case and spacing inside the
// brackets are forgiven, as some clients alter them.
func ParseSubjectTag(subject string) (int64, bool) {
	m := reSubjectTag.FindStringSubmatch(subject)
	if m == nil {
		return 0, false
	}
	id, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// NewMessageID mints a globally unique Message-ID for outbound mail, without
// angle brackets: a timestamp and 80 random bits at domain.
func NewMessageID(domain string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	r := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	domain = strings.Trim(strings.TrimSpace(domain), "<>@")
	if domain == "" {
		domain = "restore-portal.invalid"
	}
	return fmt.Sprintf("restore.%s.%s@%s", strconv.FormatInt(time.Now().UnixMilli(), 36), r, domain)
}

// maxReferences bounds the References of an answer; long threads keep the
// first id (the thread's root) and the latest ones, as RFC 5322 suggests.
const maxReferences = 20

// ThreadHeaders returns the In-Reply-To and References an answer to in
// carries, so that the requester's mail client shows one conversation.
func ThreadHeaders(in *Message) (inReplyTo string, references []string) {
	if in == nil || in.MessageID == "" {
		return "", nil
	}
	refs := append(append([]string(nil), in.References...), in.MessageID)
	if len(refs) > maxReferences {
		refs = append(refs[:1:1], refs[len(refs)-maxReferences+1:]...)
	}
	return in.MessageID, refs
}

// DedupeKey names a mail so that the same mail delivered twice (a sender
// retrying after a lost 250, a provider posting twice) is stored once:
// "mid:" and the Message-ID when there is one, else "sha256:" and the
// hash of the raw bytes without the trace headers our listener added.
func DedupeKey(m *Message, raw []byte) string {
	if m != nil && m.MessageID != "" {
		return "mid:" + m.MessageID
	}
	sum := sha256.Sum256(StripTrace(raw))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// StripTrace removes the Return-Path and Received fields that NewSMTPServer
// puts in front of a mail, giving back the bytes the sender sent.
func StripTrace(raw []byte) []byte {
	rest := raw
	if !bytes.HasPrefix(rest, []byte("Return-Path: ")) {
		return raw
	}
	i := bytes.Index(rest, []byte("\r\n"))
	if i < 0 {
		return raw
	}
	rest = rest[i+2:]
	if !bytes.HasPrefix(rest, []byte("Received: ")) {
		return raw
	}
	mark := traceMark
	end := bytes.Index(rest, []byte(mark))
	if end < 0 {
		mark = traceMarkTLS
		if end = bytes.Index(rest, []byte(mark)); end < 0 {
			return raw
		}
	}
	// The date follows on its own folded line.
	after := rest[end+len(mark):]
	j := bytes.Index(after, []byte("\r\n"))
	if j < 0 {
		return raw
	}
	return after[j+2:]
}
