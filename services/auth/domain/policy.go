package domain

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/moa-run/moa/contracts"
)

// commonPasswords is the list refused at signup: the first guesses of any online attack, so
// the login throttle alone would not protect an account that uses one.
//
//go:embed common_passwords.txt
var commonPasswords string

var common = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 8192)
	for line := range strings.Lines(commonPasswords) {
		if p := strings.TrimRight(line, "\r\n"); p != "" && !strings.HasPrefix(p, "#") {
			m[p] = struct{}{}
		}
	}
	return m
})

// CheckNewPassword applies the signup policy beyond length (contracts checks that): no
// password that is whitespace only, one repeated character, or on the common list (compared
// case-insensitively, since "Password" is guessed as early as "password"). Login never applies
// it, so tightening the policy locks nobody out.
func CheckNewPassword(p string) error {
	switch {
	case strings.TrimFunc(p, unicode.IsSpace) == "":
		return contracts.ErrValidation.OnField("password", "password must not be only spaces")
	case sameRune(p):
		return contracts.ErrValidation.OnField("password", "password must not repeat one character")
	}
	if _, ok := common()[strings.ToLower(p)]; ok {
		return contracts.ErrValidation.OnField("password", "password is too common; choose another")
	}
	return nil
}

func sameRune(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	return strings.Trim(s, string(first)) == ""
}
