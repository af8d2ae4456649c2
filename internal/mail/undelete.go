package mail

import "regexp"

// ModeUndelete asks for only the rows that were lost: the snapshot's rows
// missing live are inserted back, nothing live is overwritten.
const ModeUndelete Mode = "undelete"

// reUndelete matches a request for the lost rows only: "restore the deleted
// rows", "only the missing rows", "bring back the records we removed",
// "undelete".
var reUndelete = regexp.MustCompile(`(?i)\b(undelete\w*|un-delete\w*|` +
	`(restore|recover|bring back|get back|put back|re-?insert|re-?add)\s+(only\s+|just\s+)?(the\s+|those\s+|these\s+|our\s+|all\s+(the\s+)?)?(\w+\s+)?(deleted|missing|lost|removed|erased)\s+(\w+\s+)?(rows?|records?|entries|lines|data|items)|` +
	`(only|just)\s+(\w+\s+)?(the\s+)?(deleted|missing|lost|removed)\s+(\w+\s+)?(rows?|records?|entries|data|items)|` +
	`(rows?|records?|entries)\s+(that\s+|which\s+)?(we|i|they|someone|somebody)\s+(accidentally\s+|mistakenly\s+)?(deleted|removed|lost))\b`)

// undeleteModes finds requests for an undelete. They are more specific than
// the other modes' words (a mail asking for "only the missing rows, without
// overwriting anything" reads as both undelete and not-destructive), so they
// score higher and win over them.
func undeleteModes(lines []line) []found[Mode] {
	var fs []found[Mode]
	for _, l := range lines {
		for _, m := range reUndelete.FindAllStringIndex(l.text, 10) {
			if reNegation.MatchString(l.text[:m[0]]) {
				continue // "don't just restore the deleted rows"
			}
			fs = append(fs, found[Mode]{value: ModeUndelete, key: string(ModeUndelete), line: l, conf: Likely, score: 1})
		}
	}
	return fs
}

// undeleteModeText is how notices describe the mode.
const undeleteModeText = "put back only the rows that are missing now (nothing in the live project is overwritten)"
