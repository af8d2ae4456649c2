package mail

import (
	"regexp"
	"strings"
)

var (
	// "On Mon, May 4, 2026 at 10:00 AM Alice <a@example.com> wrote:" and its
	// translations; the attribution line may be wrapped over two lines.
	reAttribution = regexp.MustCompile(`(?i)^(on|am|le|el|il|op|em)\b.{0,300}\b(wrote|schrieb|a écrit|escribió|ha scritto|schreef|escreveu)\s*:?\s*$`)
	reOriginal    = regexp.MustCompile(`(?i)^-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original)\s*-{2,}$`)
	reUnderscores = regexp.MustCompile(`^_{10,}$`)
	reHeaderLine  = regexp.MustCompile(`(?i)^\*?(from|von|de)\*?:\s`)
	reSentLine    = regexp.MustCompile(`(?i)^\*?(sent|date|gesendet|envoyé|enviado|datum)\*?:\s`)
	reForwarded   = regexp.MustCompile(`(?i)^(-{2,}\s*(forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado)\s*-{2,}|begin forwarded message:)$`)
	reMobileSig   = regexp.MustCompile(`(?i)^(sent from my \w+|sent from (outlook|mail|yahoo|gmail|proton)\b|get outlook for (ios|android)|sent via |envoyé de mon |von meinem \w+ gesendet)`)
)

// StripQuoted removes quoted history and signatures from a mail body, so
// that only what the sender wrote this time is left:
//
//   - "On ... wrote:" attributions and everything after them,
//   - lines starting with ">" (kept out even in interleaved replies),
//   - Outlook's "-----Original Message-----" and "From: ... Sent: ..." blocks,
//   - a "-- " signature and short "Sent from my iPhone" lines.
//
// A forwarded message ("---------- Forwarded message ---------", "Begin
// forwarded message:") is kept, with its From/Date/Subject lines, because
// it usually carries the request; its own quoted history is stripped.
func StripQuoted(text string) string { return stripQuoted(text, false) }

// stripQuoted is StripQuoted; with outlookForward, an Outlook header block
// ("-----Original Message-----", "From: ... Sent: ...") is a forwarded
// message, not quoted history: Outlook forwards look exactly like its
// replies, and only the "FW:" subject tells them apart.
func stripQuoted(text string, outlookForward bool) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		t := strings.TrimSpace(line)

		if reForwarded.MatchString(t) || outlookForward && isOutlookBlock(lines, i) {
			kept := trimEmpty(out)
			fwd := forwardedPart(lines[i:])
			if len(kept) > 0 {
				return strings.TrimSpace(strings.Join(kept, "\n") + "\n\n" + fwd)
			}
			return strings.TrimSpace(fwd)
		}
		if isQuoteStart(lines, i) {
			break
		}
		if isSignature(t, line) {
			// A signature ends what was written, unless a forwarded
			// message follows it: "FYI, see below\n-- \nCarol\n\n------
			// Forwarded message -----". Then skip just the signature.
			j := forwardAfter(lines, i+1, outlookForward)
			if j < 0 {
				break
			}
			i = j - 1
			continue
		}
		if strings.HasPrefix(t, ">") {
			// An attribution line just above quoted lines, not matched by
			// the patterns (another language), goes with them.
			if len(out) > 0 && strings.HasSuffix(strings.TrimSpace(out[len(out)-1]), ":") && i > 0 && strings.TrimSpace(lines[i-1]) != "" && !strings.HasPrefix(strings.TrimSpace(lines[i-1]), ">") {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, line)
	}
	return strings.TrimSpace(strings.Join(trimEmpty(out), "\n"))
}

// forwardAfter returns the index of the first forward marker at or after
// from, if no quoted history starts before it; else -1.
func forwardAfter(lines []string, from int, outlookForward bool) int {
	for j := from; j < len(lines) && j < from+30; j++ {
		t := strings.TrimSpace(lines[j])
		if reForwarded.MatchString(t) || outlookForward && isOutlookBlock(lines, j) {
			return j
		}
		if isQuoteStart(lines, j) || strings.HasPrefix(t, ">") {
			return -1
		}
	}
	return -1
}

// isQuoteStart reports whether lines[i] begins quoted history.
func isQuoteStart(lines []string, i int) bool {
	t := strings.TrimSpace(lines[i])
	if t == "" {
		return false
	}
	if reAttribution.MatchString(t) {
		return true
	}
	// A wrapped attribution: "On Mon, ... Alice <" / "alice@example.com> wrote:".
	if i+1 < len(lines) && len(t) < 200 && reAttribution.MatchString(t+" "+strings.TrimSpace(lines[i+1])) {
		return true
	}
	return isOutlookBlock(lines, i)
}

// isOutlookBlock reports whether lines[i] begins Outlook's header block:
// "-----Original Message-----", a line of underscores before "From:", or
// "From:" followed closely by "Sent:".
func isOutlookBlock(lines []string, i int) bool {
	t := strings.TrimSpace(lines[i])
	if reOriginal.MatchString(t) {
		return true
	}
	if reUnderscores.MatchString(t) && i+1 < len(lines) && reHeaderLine.MatchString(strings.TrimSpace(lines[i+1])) {
		return true
	}
	if reHeaderLine.MatchString(t) {
		for j := i + 1; j < len(lines) && j <= i+4; j++ {
			if reSentLine.MatchString(strings.TrimSpace(lines[j])) {
				return true
			}
		}
	}
	return false
}

func isSignature(t, line string) bool {
	if line == "-- " || line == "--" || line == "-- \r" {
		return true
	}
	return len(t) < 80 && reMobileSig.MatchString(t)
}

// forwardedPart keeps a forwarded message: the marker, its header lines and
// its body, with the body's own quoted history stripped.
func forwardedPart(lines []string) string {
	head := []string{strings.TrimSpace(lines[0])}
	i := 1
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	for ; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" {
			break
		}
		k, _, ok := strings.Cut(t, ":")
		k = strings.Trim(k, "*")
		if !ok || strings.ContainsAny(k, " \t") && len(k) > 20 {
			break
		}
		head = append(head, t)
	}
	body := stripQuoted(strings.Join(lines[i:], "\n"), false)
	if body == "" {
		return strings.Join(head, "\n")
	}
	return strings.Join(head, "\n") + "\n\n" + body
}

func trimEmpty(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	return lines
}
