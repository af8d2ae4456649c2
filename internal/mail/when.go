package mail

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const zonePat = `(?:\s*\(?((?:utc|gmt)\s*[+-]\s*\d{1,2}(?::?\d{2})?|[+-]\d{2}:?\d{2}|z|[a-z]{2,4})\b\)?)?`

var (
	reISO = regexp.MustCompile(`(?i)\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:(?:t|\s+|\s*at\s*)(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?` + zonePat)

	monthPat   = `(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?`
	reDayMonth = regexp.MustCompile(`(?i)\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?` + monthPat + `(?:,?\s+(\d{4}))?\b`)
	reNumDate  = regexp.MustCompile(`\b(\d{1,2})([/.])(\d{1,2})(?:[/.](\d{4}|\d{2}))?\b`)
	reMonthDay = regexp.MustCompile(`(?i)\b` + monthPat + `\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?`)
	reRelDay   = regexp.MustCompile(`(?i)\b(the\s+day\s+before\s+yesterday|yesterday|today|tonight|last\s+night|this\s+(?:morning|afternoon|evening)|(?:last\s+|on\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b(?:\s+(morning|afternoon|evening|night))?`)
	reAgo      = regexp.MustCompile(`(?i)\b(\d{1,3}|an?|one|two|three|four|five|six|ten|twelve|half\s+an?)\s+(minute|min|hour|hr|day|week)s?\s+ago\b`)
	reClock    = regexp.MustCompile(`(?i)(?:\b(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)|\b(\d{1,2}):(\d{2})(?::\d{2})?|\b(noon|midday|midnight))` + zonePat)
	reApprox   = regexp.MustCompile(`(?i)(around|about|approx\w*|roughly|circa|ca\.|~|-ish|ish)\s*$`)
	rePosCue   = regexp.MustCompile(`(?i)\b(restore|restored|back|as\s+of|state|snapshot|before|rollback|roll\s+back|revert|return)\b[^.!?]{0,40}$`)
	reNegCue   = regexp.MustCompile(`(?i)\b(deleted|dropped|truncated|broke|broken|lost|happened|ran|mistake|accident\w*|since|started|began|failed|corrupted|wiped|noticed)\b[^.!?]{0,30}$`)
)

var months = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}

var weekdays = map[string]time.Weekday{
	"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6,
}

var smallNumbers = map[string]int{"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10, "twelve": 12}

// span is a piece of a line recognised as part of a time.
type span struct{ start, end int }

// dayAnchor is a recognised date: a calendar day, with a default hour for
// parts of the day ("this morning").
type dayAnchor struct {
	span
	y       int
	m       time.Month
	d       int
	defHour int  // -1: none
	exact   bool // a calendar date, not a relative day
	desc    string
	// needsClock drops the anchor when no clock time is near: "24/7" and
	// "1/2" are not dates, "5/3 at 2pm" is.
	needsClock bool
	// alt is the other reading of a numeric date like 5/3 (May 3 or 5
	// March): both are offered, which makes the time ambiguous.
	alt *dayAnchor
}

// readings is the anchor and its other reading, if any.
func (d dayAnchor) readings() []dayAnchor {
	if d.alt == nil {
		return []dayAnchor{d}
	}
	return []dayAnchor{d, *d.alt}
}

type clockAnchor struct {
	span
	h, min int
	loc    *time.Location // nil: not given
	approx bool
}

// findTime reads the requested time. ref is the mail's Date, whose zone is
// the one assumed when the requester names none.
func findTime(lines []line, ref time.Time, problems *[]string) Field[time.Time] {
	var fs []found[time.Time]
	for _, l := range lines {
		if l.ref.IsZero() {
			fs = append(fs, timesInLine(l, ref)...)
			continue
		}
		for _, f := range timesInLine(l, l.ref) {
			f.note += " (relative to the forwarded mail's date, " + l.ref.Format("2006-01-02 15:04") + ")"
			fs = append(fs, f)
		}
	}
	f := decide(fs)
	if f.Confidence != Missing && f.Value.After(ref.Add(10*time.Minute)) {
		*problems = append(*problems, fmt.Sprintf("The time %s is after your mail was sent; a restore can only go back in time.", f.Value.Format("2006-01-02 15:04 MST")))
		f.Confidence = Invalid
	}
	return f
}

// timesInLine reads every time line names, relative to ref, step by step:
// ISO timestamps, "… ago", days, clock times, then days paired with their
// clock times and what is left alone.
func timesInLine(l line, ref time.Time) []found[time.Time] {
	s := &lineScan{l: l, text: l.text, ref: ref, loc: ref.Location(), refDay: ref.In(ref.Location())}
	s.isoTimes()
	s.agoTimes()
	days := s.days()
	clocks := s.clocks()
	dayClock, taken := pairDaysAndClocks(s.text, days, clocks)
	s.emitDays(days, clocks, dayClock)
	s.emitLoneClocks(clocks, taken)
	return s.out
}

// lineScan is one line being read for times: what was found so far, and
// the spans of text already read as part of a time.
type lineScan struct {
	l      line
	text   string
	ref    time.Time
	loc    *time.Location
	refDay time.Time
	out    []found[time.Time]
	used   []span
}

// emit records time t found at start, scored by the cues before it.
func (s *lineScan) emit(start int, t time.Time, conf Confidence, note string) {
	before := s.text[:start]
	score := 0
	if rePosCue.MatchString(before) {
		score++
	}
	if reNegCue.MatchString(before) {
		score--
	}
	f := found[time.Time]{line: s.l, conf: conf, score: score}
	t, znote := keepZone(t)
	f.note = note + znote
	f.value = t
	f.key = t.UTC().Format(time.RFC3339)
	s.out = append(s.out, f)
}

// isoTimes reads ISO dates with a time; an ISO date alone is marked used
// and left to days, which lets a nearby clock time complete it.
func (s *lineScan) isoTimes() {
	text := s.text
	for _, m := range reISO.FindAllStringSubmatchIndex(text, 10) {
		g := groups(text, m)
		y, mo, d := atoi(g[1]), atoi(g[2]), atoi(g[3])
		if mo < 1 || mo > 12 || d < 1 || d > 31 {
			continue
		}
		s.used = append(s.used, span{m[0], m[1]})
		zl, hasZone := lookupZone(g[7])
		if !hasZone {
			zl = s.loc
		}
		if g[4] == "" {
			continue
		}
		h, mi, sec := atoi(g[4]), atoi(g[5]), atoi(g[6])
		if h > 23 || mi > 59 || sec > 59 {
			continue
		}
		conf := Likely
		if hasZone {
			conf = Certain
		}
		if reApprox.MatchString(text[:m[0]]) {
			conf = Likely
		}
		s.emit(m[0], time.Date(y, time.Month(mo), d, h, mi, sec, 0, zl), conf, "")
	}
}

// agoTimes reads "2 hours ago", "half an hour ago".
func (s *lineScan) agoTimes() {
	for _, m := range reAgo.FindAllStringSubmatchIndex(s.text, 10) {
		g := groups(s.text, m)
		n, ok := smallNumbers[strings.ToLower(strings.Join(strings.Fields(g[1]), " "))]
		half := strings.HasPrefix(strings.ToLower(g[1]), "half")
		if !ok && !half {
			n = atoi(g[1])
		}
		var unit time.Duration
		switch strings.ToLower(g[2]) {
		case "minute", "min":
			unit = time.Minute
		case "hour", "hr":
			unit = time.Hour
		case "day":
			unit = 24 * time.Hour
		case "week":
			unit = 7 * 24 * time.Hour
		}
		d := time.Duration(n) * unit
		if half {
			d = unit / 2
		}
		s.used = append(s.used, span{m[0], m[1]})
		s.emit(m[0], s.ref.Add(-d).Truncate(time.Minute), Likely, "")
	}
}

// days reads calendar dates and relative days not inside what was read
// already, and marks them used.
func (s *lineScan) days() []dayAnchor {
	text, refDay := s.text, s.refDay
	var days []dayAnchor
	for _, m := range reISO.FindAllStringSubmatchIndex(text, 10) {
		g := groups(text, m)
		if g[4] != "" {
			continue
		}
		y, mo, d := atoi(g[1]), atoi(g[2]), atoi(g[3])
		if mo < 1 || mo > 12 || d < 1 || d > 31 {
			continue
		}
		days = append(days, dayAnchor{span: span{m[0], m[1]}, y: y, m: time.Month(mo), d: d, defHour: -1, exact: true})
	}
	for _, m := range reDayMonth.FindAllStringSubmatchIndex(text, 10) {
		if overlaps(s.used, m[0], m[1]) {
			continue
		}
		g := groups(text, m)
		days = append(days, calendarDay(span{m[0], m[1]}, atoi(g[1]), g[2], g[3], refDay))
	}
	for _, m := range reMonthDay.FindAllStringSubmatchIndex(text, 10) {
		if overlaps(s.used, m[0], m[1]) || overlapsDays(days, m[0], m[1]) {
			continue
		}
		g := groups(text, m)
		days = append(days, calendarDay(span{m[0], m[1]}, atoi(g[2]), g[1], g[3], refDay))
	}
	for _, m := range reNumDate.FindAllStringSubmatchIndex(text, 10) {
		if overlaps(s.used, m[0], m[1]) || overlapsDays(days, m[0], m[1]) {
			continue
		}
		if d, ok := numericDay(span{m[0], m[1]}, groups(text, m), refDay); ok {
			days = append(days, d)
		}
	}
	for _, m := range reRelDay.FindAllStringSubmatchIndex(text, 10) {
		g := groups(text, m)
		days = append(days, relativeDay(span{m[0], m[1]}, strings.ToLower(g[1]), strings.ToLower(g[2]), refDay))
	}
	for _, d := range days {
		s.used = append(s.used, d.span)
	}
	return days
}

// clocks reads clock times ("2pm", "14:30 CET", "noon") not inside what was
// read already.
func (s *lineScan) clocks() []clockAnchor {
	text := s.text
	var clocks []clockAnchor
	for _, m := range reClock.FindAllStringSubmatchIndex(text, 10) {
		if overlaps(s.used, m[0], m[1]) {
			continue
		}
		g := groups(text, m)
		c := clockAnchor{span: span{m[0], m[1]}, approx: reApprox.MatchString(text[:m[0]])}
		switch {
		case g[1] != "":
			c.h, c.min = atoi(g[1]), atoi(g[2])
			if c.h < 1 || c.h > 12 {
				continue
			}
			pm := strings.HasPrefix(strings.ToLower(g[3]), "p")
			if pm && c.h != 12 {
				c.h += 12
			}
			if !pm && c.h == 12 {
				c.h = 0
			}
		case g[4] != "":
			c.h, c.min = atoi(g[4]), atoi(g[5])
		case strings.EqualFold(g[6], "midnight"):
			c.h = 0
		default:
			c.h = 12
		}
		if c.h > 23 || c.min > 59 {
			continue
		}
		if zl, ok := lookupZone(g[7]); ok {
			c.loc = zl
		}
		clocks = append(clocks, c)
	}
	return clocks
}

// pairDaysAndClocks pairs days and clock times, nearest first, within one
// sentence: dayClock[i] is the clock of day i (-1: none), taken[j] whether
// clock j went to a day.
func pairDaysAndClocks(text string, days []dayAnchor, clocks []clockAnchor) (dayClock []int, taken []bool) {
	type pair struct{ d, c, gap int }
	var pairs []pair
	for i, d := range days {
		for j, c := range clocks {
			g := gap(d.span, c.span)
			lo, hi := min(d.end, c.end), max(d.start, c.start)
			if g < 40 && (lo >= hi || !strings.ContainsAny(text[lo:hi], ".!?;")) {
				pairs = append(pairs, pair{i, j, g})
			}
		}
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return a.gap - b.gap })
	dayClock = make([]int, len(days))
	for i := range dayClock {
		dayClock[i] = -1
	}
	taken = make([]bool, len(clocks))
	for _, p := range pairs {
		if dayClock[p.d] >= 0 || taken[p.c] {
			continue
		}
		dayClock[p.d], taken[p.c] = p.c, true
	}
	return dayClock, taken
}

// emitDays records each day (each reading of an ambiguous one) at its
// clock time, or alone as a guess at its default hour.
func (s *lineScan) emitDays(days []dayAnchor, clocks []clockAnchor, dayClock []int) {
	for i, day := range days {
		if dayClock[i] < 0 && day.needsClock {
			continue
		}
		for _, d := range day.readings() {
			if dayClock[i] < 0 {
				h, note := 0, " (a day without a time of day)"
				if d.defHour >= 0 {
					h, note = d.defHour, fmt.Sprintf(" (%02d:00 assumed)", d.defHour)
				}
				s.emit(d.start, time.Date(d.y, d.m, d.d, h, 0, 0, 0, s.loc), Guess, note+d.desc)
				continue
			}
			c := clocks[dayClock[i]]
			zl := c.loc
			if zl == nil {
				zl = s.loc
			}
			s.emit(min(d.start, c.start), time.Date(d.y, d.m, d.d, c.h, c.min, 0, 0, zl), Likely, d.desc)
		}
	}
}

// emitLoneClocks records clock times no day took: the latest such time not
// after the mail.
func (s *lineScan) emitLoneClocks(clocks []clockAnchor, taken []bool) {
	for i, c := range clocks {
		if taken[i] {
			continue
		}
		zl := c.loc
		if zl == nil {
			zl = s.loc
		}
		r := s.ref.In(zl)
		t := time.Date(r.Year(), r.Month(), r.Day(), c.h, c.min, 0, 0, zl)
		if t.After(s.ref) {
			t = t.AddDate(0, 0, -1)
		}
		s.emit(c.start, t, Guess, " (a time without a day: the latest before the mail)")
	}
}

// calendarDay builds a day from "3 May" or "May 3rd, 2026"; without a year
// it is the latest such day not after the mail.
func calendarDay(s span, day int, month, year string, ref time.Time) dayAnchor {
	mo := months[strings.ToLower(month)[:3]]
	y := ref.Year()
	explicit := year != ""
	if explicit {
		y = atoi(year)
	}
	d := dayAnchor{span: s, y: y, m: mo, d: day, defHour: -1, exact: true}
	if !explicit && time.Date(y, mo, day, 0, 0, 0, 0, ref.Location()).After(ref) {
		d.y--
	}
	return d
}

// numericDay reads 5/3, 5/3/2026, 03.05.2026. Dots are day.month (as
// Europe writes them); slashes are month/day in the US and day/month
// elsewhere, so when both readings are valid both are returned.
func numericDay(s span, g []string, ref time.Time) (dayAnchor, bool) {
	a, sep, b, year := atoi(g[1]), g[2], atoi(g[3]), g[4]
	y := ref.Year()
	if year != "" {
		y = atoi(year)
		if len(year) == 2 {
			y += 2000
		}
	}
	mk := func(mo, d int, desc string) (dayAnchor, bool) {
		if mo < 1 || mo > 12 || d < 1 || d > 31 {
			return dayAnchor{}, false
		}
		da := dayAnchor{span: s, y: y, m: time.Month(mo), d: d, defHour: -1, exact: true, needsClock: year == "", desc: desc}
		if year == "" && time.Date(y, da.m, d, 0, 0, 0, 0, ref.Location()).After(ref) {
			da.y--
		}
		return da, true
	}
	if sep == "." {
		if year == "" {
			return dayAnchor{}, false // 15.4 is a version, 3.5 a number
		}
		return mk(b, a, "")
	}
	us, okUS := mk(a, b, "")
	eu, okEU := mk(b, a, "")
	switch {
	case okUS && okEU && a != b:
		us.desc = fmt.Sprintf(" (%s read as month/day; it could be day/month)", g[0])
		eu.desc = fmt.Sprintf(" (%s read as day/month; it could be month/day)", g[0])
		us.alt = &eu
		return us, true
	case okUS:
		return us, true
	case okEU:
		return eu, true
	}
	return dayAnchor{}, false
}

// relativeDay builds a day from "yesterday", "this morning", "last friday".
func relativeDay(s span, word, part string, ref time.Time) dayAnchor {
	day := ref
	defHour := -1
	word = strings.Join(strings.Fields(word), " ")
	switch {
	case word == "the day before yesterday":
		day = ref.AddDate(0, 0, -2)
	case word == "yesterday":
		day = ref.AddDate(0, 0, -1)
	case word == "today":
	case word == "tonight":
		defHour = 20
	case word == "last night":
		day = ref.AddDate(0, 0, -1)
		defHour = 22
	case strings.HasPrefix(word, "this "):
		part = strings.TrimPrefix(word, "this ")
	default:
		name := word[strings.LastIndex(word, " ")+1:]
		wd := weekdays[name]
		back := (int(ref.Weekday()) - int(wd) + 7) % 7
		if back == 0 && strings.HasPrefix(word, "last") {
			back = 7
		}
		day = ref.AddDate(0, 0, -back)
	}
	switch part {
	case "morning":
		defHour = 9
	case "afternoon":
		defHour = 15
	case "evening":
		defHour = 19
	case "night":
		defHour = 22
	}
	return dayAnchor{span: s, y: day.Year(), m: day.Month(), d: day.Day(), defHour: defHour}
}

func groups(text string, m []int) []string {
	g := make([]string, len(m)/2)
	for i := range g {
		if m[2*i] >= 0 {
			g[i] = text[m[2*i]:m[2*i+1]]
		}
	}
	// Pad so callers can index the optional zone group.
	for len(g) < 8 {
		g = append(g, "")
	}
	return g
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

func overlaps(spans []span, s, e int) bool {
	for _, x := range spans {
		if s < x.end && x.start < e {
			return true
		}
	}
	return false
}

func overlapsDays(days []dayAnchor, s, e int) bool {
	for _, d := range days {
		if s < d.end && d.start < e {
			return true
		}
	}
	return false
}

// gap is the number of characters between two spans.
func gap(a, b span) int {
	switch {
	case a.end <= b.start:
		return b.start - a.end
	case b.end <= a.start:
		return a.start - b.end
	}
	return 0
}
