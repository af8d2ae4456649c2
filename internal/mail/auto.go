package mail

import (
	"strings"

	"github.com/emersion/go-message"
)

// detectAutomatic flags mail written by a machine: auto-replies, bounces,
// receipts and bulk mail. The portal records such mail but never answers
// it, which is what keeps two robots from answering each other forever.
// The first sign found is the reason given.
func (p *parser) detectAutomatic(h message.Header) {
	m := p.msg
	set := func(reason string) {
		if !m.IsAutomatic {
			m.IsAutomatic = true
			m.AutomaticReason = reason
		}
	}

	// RFC 3834.
	if v := headerToken(h.Get("Auto-Submitted")); v != "" && v != "no" {
		set("Auto-Submitted: " + v)
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder"} {
		if v := headerToken(h.Get(k)); h.Has(k) && v != "no" && v != "false" {
			set(k + " header")
		}
	}
	switch v := headerToken(h.Get("Precedence")); v {
	case "bulk", "junk", "list", "auto_reply", "auto-reply":
		set("Precedence: " + v)
	}
	if h.Has("Return-Path") && strings.TrimSpace(h.Get("Return-Path")) == "<>" {
		set("empty Return-Path (a bounce)")
	}
	local, _, _ := strings.Cut(strings.ToLower(m.From.Addr), "@")
	switch local {
	case "mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon":
		set("sent by " + m.From.Addr)
	}
	switch p.reportType {
	case "delivery-status":
		set("delivery status report (a bounce)")
	case "disposition-notification":
		set("read receipt")
	case "":
	default:
		set("automatic report (" + p.reportType + ")")
	}
	// Microsoft Exchange marks the mail its rules generate (out of office);
	// some Outlook versions send nothing else that says so.
	if h.Has("X-MS-Exchange-Generated-Message-Source") {
		set("Exchange automatic message")
	}
	if hasAutoSubject(m.Subject) {
		set("subject says it is an automatic reply")
	}
}

// headerToken is the lower-cased first token of a structured header value,
// without parameters or comments.
func headerToken(v string) string {
	v, _, _ = strings.Cut(v, ";")
	v, _, _ = strings.Cut(v, "(")
	return strings.ToLower(strings.TrimSpace(v))
}

var autoSubjectPrefixes = []string{
	"out of office",
	"automatic reply:",
	"auto-reply:",
	"autoreply:",
	"auto reply:",
	"abwesenheitsnotiz",
	"réponse automatique",
	"undeliverable:",
	"undelivered mail returned to sender",
	"delivery status notification (failure)",
	"mail delivery failed",
}

func hasAutoSubject(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range autoSubjectPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
