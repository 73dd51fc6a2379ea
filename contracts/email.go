package contracts

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Look-alike addresses: two strings that render the same must not make two accounts. NFKC
// folds compatibility forms (full-width letters, ligatures) and composes accents, so those
// become the address they look like; invisible characters and labels mixing scripts (a Cyrillic
// "а" among Latin letters) have no such canonical form and are refused.

// foldEmail is the NFKC form of s, trimmed and lower-cased.
func foldEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(norm.NFKC.String(s)))
}

// lookAlike returns why the address (already folded) could pass for another one, or "".
// The local part is checked as one label, the domain label by label (an internationalised
// label under a Latin top-level domain is normal).
func lookAlike(local, domain string) string {
	if strings.IndexFunc(local+domain, invisible) >= 0 {
		return "email contains invisible characters"
	}
	for _, label := range append([]string{local}, strings.Split(domain, ".")...) {
		if mixedScript(label) {
			return "email mixes alphabets in one part"
		}
	}
	return ""
}

// invisible reports format characters (zero-width space and joiners, soft hyphen, BOM,
// bidi controls), private-use, unassigned and surrogate code points, and the other default-
// ignorable characters that render as nothing.
func invisible(r rune) bool {
	switch {
	case unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs, unicode.Variation_Selector):
		return true
	case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C):
		return true // unassigned
	}
	switch r {
	case 0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0: // grapheme joiner, Hangul fillers, Khmer inherent vowels
		return true
	}
	return false
}

// mixedScript reports whether s has letters of more than one script, allowing the
// combinations a single language writes with (Japanese, Chinese with Bopomofo, Korean, each
// with Latin) as Unicode's "highly restrictive" profile (UTS #39) does.
func mixedScript(s string) bool {
	seen := map[string]bool{}
	for _, r := range s {
		if r < 0x80 {
			if unicode.IsLetter(r) {
				seen["Latin"] = true
			}
			continue
		}
		if sc := script(r); sc != "" {
			seen[sc] = true
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, set := range [][]string{{"Latin", "Han", "Hiragana", "Katakana"}, {"Latin", "Han", "Bopomofo"}, {"Latin", "Han", "Hangul"}} {
		ok := true
		for sc := range seen {
			ok = ok && slices.Contains(set, sc)
		}
		if ok {
			return false
		}
	}
	return true
}

// script names the script of r, or "" for characters every script shares (digits,
// punctuation, combining marks).
func script(r rune) string {
	for name, t := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(t, r) {
			return name
		}
	}
	return ""
}
