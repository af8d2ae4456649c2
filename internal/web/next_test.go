package web

import "testing"

// TestSafeNext: after login only same-origin absolute paths are followed.
func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/ok?x=1", "/ok?x=1"},
		{"/tickets/12#approve", "/tickets/12#approve"},
		{"/riverui/jobs?state=available", "/riverui/jobs?state=available"},
		{"/%09/host", "/"}, // percent-encoded tab: a proxy or browser may decode it
		{"/\t/host", "/"},  // the value after form decoding; browsers drop the tab -> //host
		{"/\n/host", "/"},  // line breaks likewise
		{"/\\evil", "/"},   // browsers read \ as /
		{"/%5Cevil", "/"},  // encoded backslash
		{"//evil", "/"},    // scheme-relative
		{"/%2F/evil", "/"}, // encoded second slash
		{"https://evil", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example/x", "/"},
		{"/ /evil", "/"},
		{"/\u00a0/evil", "/"}, // non-breaking space
		{"/\x00", "/"},
		{"/\xff", "/"}, // not UTF-8
		{"", "/"},
	} {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckText(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "plain", "tab\tand\nlines\r\n", "ünïcødé ✓"} {
		if err := checkText(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"nul\x00", "\xff\xfe", "bell\x07", "del\x7f"} {
		if checkText(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
