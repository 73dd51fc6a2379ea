package contracts_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
)

func TestTokenAccepts(t *testing.T) {
	for _, s := range []string{
		"0190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a01", // UUIDv7, the usual key
		"가나다",                                  // Korean search terms end up in keys
		"구독-상품_1",
		"a",
		"user@example",
		"with:colon|pipe#hash$dollar",
		strings.Repeat("x", contracts.MaxTokenLen),
		strings.Repeat("가", contracts.MaxTokenLen/3), // 42 runes, 126 bytes
	} {
		got, err := contracts.Token("key", s)
		if err != nil {
			t.Errorf("Token(%q) = %v, want it accepted", s, err)
			continue
		}
		if got != s {
			t.Errorf("Token(%q) changed the value to %q", s, got)
		}
		if !contracts.IsToken(s) {
			t.Errorf("IsToken(%q) = false", s)
		}
	}
}

func TestTokenRejects(t *testing.T) {
	for name, s := range map[string]string{
		"empty":             "",
		"dot":               "a.b",
		"leading dot":       ".a",
		"star":              "*",
		"star inside":       "a*b",
		"gt":                ">",
		"gt inside":         "a>b",
		"space":             "a b",
		"tab":               "a\tb",
		"newline":           "a\nb",
		"carriage return":   "a\rb",
		"nul":               "a\x00b",
		"escape":            "a\x1bb",
		"delete":            "a\x7fb",
		"C1 control":        "a\u0085b",
		"no-break space":    "a\u00a0b",
		"ideographic space": "가\u3000나",
		"too long":          strings.Repeat("x", contracts.MaxTokenLen+1),
		"too long in bytes": strings.Repeat("가", contracts.MaxTokenLen/3+1), // 43 runes, 129 bytes
		"invalid UTF-8":     "a\xffb",
		"truncated UTF-8":   "\xea\xb0",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := contracts.Token("product_id", s)
			if err == nil {
				t.Fatalf("Token(%q) accepted it", s)
			}
			if got != "" {
				t.Errorf("Token returned %q along with the error", got)
			}
			if !errors.Is(err, contracts.ErrInvalidSubject) {
				t.Fatalf("error %v is not invalid_subject_token", err)
			}
			ce := contracts.AsError(err)
			if ce.Field != "product_id" || ce.Kind != contracts.KindInvalid {
				t.Errorf("error names field %q kind %q, want product_id and invalid", ce.Field, ce.Kind)
			}
			if contracts.IsToken(s) {
				t.Errorf("IsToken(%q) = true", s)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	if got := contracts.Join("evt", "catalog", "product_changed", "k1"); got != "evt.catalog.product_changed.k1" {
		t.Fatalf("Join = %q", got)
	}
	ev := contracts.Event[struct{}]{Stream: contracts.StreamCatalog, Domain: "catalog", Name: "product_changed", Version: 2}
	if ev.Subject("k1") != "evt.catalog.product_changed.k1" || ev.Filter() != "evt.catalog.product_changed.*" || ev.Type() != "catalog.product_changed" {
		t.Fatalf("event subjects: %s %s %s", ev.Subject("k1"), ev.Filter(), ev.Type())
	}
	ep := contracts.Endpoint[contracts.Empty, contracts.Empty]{Service: contracts.Service{Name: "catalog", Major: 1}, Name: "get_product"}
	if ep.Subject() != "catalog.v1.get_product" || ep.Deadline() != contracts.DefaultTimeout {
		t.Fatalf("endpoint subject %s deadline %v", ep.Subject(), ep.Deadline())
	}
}

func TestErrorIsComparesCodes(t *testing.T) {
	specific := contracts.ErrNotFound.Msg("product %s does not exist", "p1")
	if !errors.Is(specific, contracts.ErrNotFound) {
		t.Error("a catalogue entry with its own message is not Is the entry")
	}
	if errors.Is(specific, contracts.ErrAlreadyExists) {
		t.Error("not_found Is already_exists")
	}
	// Through wrapping by fmt.Errorf, and with a different message on the target side.
	wrapped := fmt.Errorf("loading: %w", specific)
	if !errors.Is(wrapped, contracts.ErrNotFound.Msg("other text")) {
		t.Error("errors.Is does not see through fmt.Errorf wrapping")
	}
	// A decoded wire error (no cause, Kind maybe different) still matches by code.
	decoded := &contracts.Error{Code: "not_found", Message: "whatever the server said"}
	if !errors.Is(decoded, contracts.ErrNotFound) {
		t.Error("a decoded error with the same code is not Is the catalogue entry")
	}
	if errors.Is(decoded, errors.New("not_found: not found")) {
		t.Error("Is matched a plain error by text")
	}
}

func TestErrorCopiesDoNotTouchTheCatalogue(t *testing.T) {
	before := *contracts.ErrValidation
	e := contracts.ErrValidation.OnField("email", "email %s is taken", "a@b.c")
	if e == contracts.ErrValidation {
		t.Fatal("OnField returned the catalogue entry itself")
	}
	if e.Field != "email" || e.Message != "email a@b.c is taken" || e.Code != "validation_failed" || e.Kind != contracts.KindInvalid {
		t.Fatalf("OnField = %+v", e)
	}
	if got := e.Error(); got != "validation_failed: email a@b.c is taken (field email)" {
		t.Fatalf("Error() = %q", got)
	}
	if *contracts.ErrValidation != before {
		t.Fatal("OnField changed the catalogue entry")
	}
	if contracts.Lookup("validation_failed") != contracts.ErrValidation {
		t.Fatal("Lookup does not return the catalogue entry")
	}
	if contracts.Lookup("no_such_code") != nil {
		t.Fatal("Lookup invents entries")
	}
}

func TestWrapKeepsCauseLocally(t *testing.T) {
	cause := errors.New("pq: connection refused to 10.0.0.7")
	e := contracts.ErrUnavailable.Wrap(cause)
	if !errors.Is(e, cause) {
		t.Error("the cause is not reachable with errors.Is")
	}
	if !errors.Is(e, contracts.ErrUnavailable) {
		t.Error("a wrapped entry is not Is its entry")
	}
	if strings.Contains(e.Error(), "10.0.0.7") {
		t.Errorf("the cause leaks into the message: %q", e.Error())
	}
	if contracts.ErrUnavailable.Unwrap() != nil {
		t.Error("Wrap changed the catalogue entry")
	}
	if e.Msg("x").Unwrap() != nil {
		t.Error("Msg kept the cause of the copy it was made from")
	}
	if !e.Retryable() || contracts.ErrNotFound.Retryable() || !contracts.ErrTimeout.Retryable() {
		t.Error("Retryable does not follow the kind")
	}
}

func TestAsError(t *testing.T) {
	if contracts.AsError(nil) != nil {
		t.Fatal("AsError(nil) is not nil")
	}
	ce := contracts.ErrConflict.Msg("version 3 is stale")
	if got := contracts.AsError(fmt.Errorf("update: %w", ce)); got != ce {
		t.Fatalf("AsError did not find the *Error in the chain: %v", got)
	}
	plain := errors.New("disk on fire")
	got := contracts.AsError(plain)
	if got.Code != "internal" || got.Kind != contracts.KindInternal {
		t.Fatalf("AsError(plain) = %+v, want internal", got)
	}
	if !errors.Is(got, plain) {
		t.Fatal("AsError(plain) dropped the cause")
	}
	if strings.Contains(got.Error(), "disk on fire") {
		t.Fatalf("the plain error's text leaks: %q", got.Error())
	}
	var target *contracts.Error
	if !errors.As(fmt.Errorf("a: %w", fmt.Errorf("b: %w", ce)), &target) || target.Code != "conflict" {
		t.Fatal("errors.As does not find a nested *Error")
	}
}

func TestCatalogueIsConsistent(t *testing.T) {
	kinds := map[contracts.Kind]bool{
		contracts.KindInvalid: true, contracts.KindUnauthenticated: true, contracts.KindForbidden: true,
		contracts.KindNotFound: true, contracts.KindConflict: true, contracts.KindUnavailable: true,
		contracts.KindTimeout: true, contracts.KindInternal: true,
	}
	seen := map[string]bool{}
	for _, e := range contracts.Catalogue() {
		if seen[e.Code] {
			t.Errorf("code %s listed twice", e.Code)
		}
		seen[e.Code] = true
		if !kinds[e.Kind] {
			t.Errorf("code %s has unknown kind %q", e.Code, e.Kind)
		}
		if e.Code == "" || e.Message == "" || strings.ToLower(e.Code) != e.Code || strings.ContainsAny(e.Code, " .-") {
			t.Errorf("code %q: codes are non-empty snake_case with a message", e.Code)
		}
		if contracts.Lookup(e.Code) != e {
			t.Errorf("Lookup(%s) is not the catalogue entry", e.Code)
		}
	}
	if len(seen) < 25 {
		t.Fatalf("the catalogue has only %d codes", len(seen))
	}
}
