package mail

import (
	netmail "net/mail"
	"regexp"
	"strings"
)

var reMailto = regexp.MustCompile(`(?i)^(.*?)\s*\[mailto:([^\]\s]+)\]\s*$`)

// ForwardedFrom is the sender of the mail m forwards: the From line of the
// first forwarded block of its text (Gmail's "---------- Forwarded message
// ---------", Apple's "Begin forwarded message:", a mail attached as
// message/rfc822, which Parse writes as such a block, or, when the subject
// says FW:, Outlook's "From: ... Sent: ..." block). ok is false when m
// forwards nothing or the From line holds no readable address.
func (m *Message) ForwardedFrom() (Address, bool) {
	outlook := reFwdSubject.MatchString(m.Subject)
	lines := strings.Split(m.Text, "\n")
	for i := range lines {
		t := strings.TrimSpace(lines[i])
		if !reForwarded.MatchString(t) && !(outlook && isOutlookBlock(lines, i)) {
			continue
		}
		for j := i; j < len(lines) && j <= i+8; j++ {
			h := strings.TrimSpace(lines[j])
			if h == "" && j > i+1 {
				break
			}
			if !reHeaderLine.MatchString(h) {
				continue
			}
			_, v, _ := strings.Cut(h, ":")
			if a, ok := readForwardedAddress(v); ok {
				return a, true
			}
			return Address{}, false
		}
		return Address{}, false
	}
	return Address{}, false
}

// readForwardedAddress reads "Dana Smith <dana@x>", "dana@x", "*Dana*
// <dana@x>" or Outlook's "Dana Smith [mailto:dana@x]".
func readForwardedAddress(v string) (Address, bool) {
	v = strings.TrimSpace(strings.Trim(strings.TrimSpace(v), "*"))
	if m := reMailto.FindStringSubmatch(v); m != nil {
		v = strings.TrimSpace(m[1]) + " <" + m[2] + ">"
	}
	a, err := netmail.ParseAddress(strings.ReplaceAll(v, "*", ""))
	if err != nil || !strings.Contains(a.Address, "@") {
		return Address{}, false
	}
	return Address{Name: CleanText(a.Name), Addr: strings.ToLower(a.Address)}, true
}
