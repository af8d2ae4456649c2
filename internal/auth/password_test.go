package auth

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Fatalf("hash format: %s", h)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse battery staple", true}, {"correct horse battery stapl", false}, {"", false}} {
		ok, err := CheckPassword(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("%q: %v %v", tc.pw, ok, err)
		}
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h2 == h {
		t.Error("same salt twice")
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("short password accepted")
	}
	if _, err := CheckPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Error("unknown format accepted")
	}
	if len(GeneratePassword()) < MinPasswordLen {
		t.Error("generated password too short")
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r, min Role
		want   bool
	}{
		{RoleAdmin, RoleApprover, true}, {RoleApprover, RoleApprover, true}, {RoleOperator, RoleApprover, false},
		{RoleViewer, RoleOperator, false}, {RoleViewer, RoleViewer, true}, {Role("root"), RoleViewer, false},
	} {
		if got := tc.r.AtLeast(tc.min); got != tc.want {
			t.Errorf("%s at least %s: %v", tc.r, tc.min, got)
		}
	}
	if _, err := ParseRole(" Admin "); err != nil {
		t.Error(err)
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("root accepted")
	}
}
