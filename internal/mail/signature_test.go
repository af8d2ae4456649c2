package mail

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-shared-with-the-provider")
	body := []byte("From: a@example.com\r\nSubject: restore\r\n\r\nrestore proj-abc\r\n")
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	ts, sig := Sign(secret, now, body)
	if ts != "1777896000" || !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("Sign = %q, %q", ts, sig)
	}
	oldTS, oldSig := Sign(secret, now.Add(-10*time.Minute), body)
	futureTS, futureSig := Sign(secret, now.Add(10*time.Minute), body)

	tests := []struct {
		name   string
		secret []byte
		ts     string
		sig    string
		body   []byte
		want   error
	}{
		{name: "valid", ts: ts, sig: sig},
		{name: "valid with 4 minutes of clock skew", ts: func() string { s, _ := Sign(secret, now.Add(4*time.Minute), body); return s }(),
			sig: func() string { _, s := Sign(secret, now.Add(4*time.Minute), body); return s }()},
		{name: "body changed", ts: ts, sig: sig, body: append([]byte("X"), body...), want: ErrSignatureInvalid},
		{name: "wrong secret", secret: []byte("other"), ts: ts, sig: sig, want: ErrSignatureInvalid},
		{name: "timestamp changed", ts: "1777896001", sig: sig, want: ErrSignatureInvalid},
		{name: "too old", ts: oldTS, sig: oldSig, want: ErrSignatureExpired},
		{name: "too far in the future", ts: futureTS, sig: futureSig, want: ErrSignatureExpired},
		{name: "no signature", ts: ts, sig: "", want: ErrSignatureMissing},
		{name: "no timestamp", ts: "", sig: sig, want: ErrSignatureMissing},
		{name: "no sha256= prefix", ts: ts, sig: strings.TrimPrefix(sig, "sha256="), want: ErrSignatureInvalid},
		{name: "not hex", ts: ts, sig: "sha256=zz", want: ErrSignatureInvalid},
		{name: "timestamp not a number", ts: "yesterday", sig: sig, want: ErrSignatureInvalid},
		{name: "no secret configured", secret: []byte{}, ts: ts, sig: sig, want: ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := secret
			if tt.secret != nil {
				s = tt.secret
			}
			b := body
			if tt.body != nil {
				b = tt.body
			}
			err := VerifySignature(s, tt.ts, tt.sig, b, now, 5*time.Minute)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("VerifySignature() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSubjectTag(t *testing.T) {
	t.Parallel()
	if got := SubjectTag(123); got != "[Restore #123]" {
		t.Errorf("SubjectTag(123) = %q", got)
	}
	tests := []struct {
		subject string
		id      int64
		ok      bool
	}{
		{"[Restore #123] We received your restore request", 123, true},
		{"Re: AW: [Restore #7] Your restore is done", 7, true},
		{"RE: [restore # 42 ] hi", 42, true},
		{"Automatic reply: [Restore #42] x", 42, true},
		{"Restore #42", 0, false},
		{"[Restore #0]", 0, false},
		{"[Restore #99999999999999999999]", 0, false},
		{"[Restore #abc]", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		id, ok := ParseSubjectTag(tt.subject)
		if id != tt.id || ok != tt.ok {
			t.Errorf("ParseSubjectTag(%q) = %d, %v; want %d, %v", tt.subject, id, ok, tt.id, tt.ok)
		}
	}
	for _, id := range []int64{1, 42, 1 << 40} {
		if got, ok := ParseSubjectTag("Re: " + SubjectTag(id) + " x"); !ok || got != id {
			t.Errorf("round trip of %d = %d, %v", id, got, ok)
		}
	}
}

func TestNewMessageID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := NewMessageID("portal.example.com")
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
		if !strings.HasSuffix(id, "@portal.example.com") || strings.ContainsAny(id, "<> ") {
			t.Fatalf("bad id %q", id)
		}
	}
	if id := NewMessageID(""); !strings.HasSuffix(id, "@restore-portal.invalid") {
		t.Errorf("NewMessageID(\"\") = %q", id)
	}
	// The id survives a trip through a header.
	raw, err := Compose(Outgoing{From: Address{Addr: "a@portal.example.com"}, To: []Address{{Addr: "b@example.com"}}, MessageID: NewMessageID("portal.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := Parse(raw); m == nil || !strings.HasSuffix(m.MessageID, "@portal.example.com") || len(m.Problems) > 0 {
		t.Errorf("parsed back: %+v", m)
	}
}

func TestThreadHeaders(t *testing.T) {
	t.Parallel()
	in := &Message{MessageID: "c@x", References: []string{"a@x", "b@x"}}
	irt, refs := ThreadHeaders(in)
	if irt != "c@x" || strings.Join(refs, " ") != "a@x b@x c@x" {
		t.Errorf("ThreadHeaders = %q, %q", irt, refs)
	}
	if &refs[0] == &in.References[0] {
		t.Error("ThreadHeaders shares the message's slice")
	}
	long := &Message{MessageID: "last@x"}
	for i := range 50 {
		long.References = append(long.References, strings.Repeat("r", i+1)+"@x")
	}
	_, refs = ThreadHeaders(long)
	if len(refs) != maxReferences || refs[0] != "r@x" || refs[len(refs)-1] != "last@x" {
		t.Errorf("long thread refs = %d, first %q, last %q", len(refs), refs[0], refs[len(refs)-1])
	}
	if irt, refs := ThreadHeaders(&Message{}); irt != "" || refs != nil {
		t.Errorf("no Message-ID: %q %q", irt, refs)
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	choices := []string{"public.users", "auth.users", "public.orders", "public.order_items", "storage.objects"}
	tests := []struct {
		s    string
		want string
	}{
		{"ordres", "public.orders"},
		{"user", "public.users auth.users"},
		{"order_item", "public.order_items"},
		{"zzzzzzzzzzzz", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Closest(tt.s, choices, 2), " "); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.s, got, tt.want)
		}
	}
}
