package mail

import (
	"regexp"
	"strings"
)

// AuthVerdicts are the SPF, DKIM and DMARC results of an
// Authentication-Results field (RFC 8601), lower case ("pass", "fail",
// "none", ...); empty when the field does not name the method.
type AuthVerdicts struct {
	Server string // the authserv-id: who checked
	SPF    string
	DKIM   string
	DMARC  string
}

var reAuthMethod = regexp.MustCompile(`(?i)(?:^|[;\s])(spf|dkim|dmarc)\s*=\s*([a-z]+)`)

// ParseAuthResults reads the verdicts of an Authentication-Results value.
// Of several DKIM signatures, one that passes wins.
func ParseAuthResults(v string) AuthVerdicts {
	var a AuthVerdicts
	v = strings.TrimSpace(v)
	if v == "" {
		return a
	}
	server, rest, _ := strings.Cut(v, ";")
	if f := strings.Fields(server); len(f) > 0 && !strings.Contains(f[0], "=") {
		a.Server = f[0]
	} else {
		rest = v
	}
	for _, m := range reAuthMethod.FindAllStringSubmatch(rest, 20) {
		res := strings.ToLower(m[2])
		switch strings.ToLower(m[1]) {
		case "spf":
			if a.SPF == "" {
				a.SPF = res
			}
		case "dkim":
			if a.DKIM == "" || res == "pass" {
				a.DKIM = res
			}
		case "dmarc":
			if a.DMARC == "" {
				a.DMARC = res
			}
		}
	}
	return a
}

// String is "spf=pass dkim=pass dmarc=fail (by mx.example.com)", the
// verdicts a thread entry shows; empty when none was found.
func (a AuthVerdicts) String() string {
	var parts []string
	for _, kv := range [][2]string{{"spf", a.SPF}, {"dkim", a.DKIM}, {"dmarc", a.DMARC}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return ""
	}
	s := strings.Join(parts, " ")
	if a.Server != "" {
		s += " (by " + a.Server + ")"
	}
	return s
}

// DMARCFailed says whether the receiving server found that the mail fails
// its From domain's DMARC policy: its From is likely forged.
func (a AuthVerdicts) DMARCFailed() bool {
	return a.DMARC == "fail" || a.DMARC == "permerror"
}
