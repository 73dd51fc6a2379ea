package search_test

import (
	"strings"
	"testing"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

type raw = map[string]any

// rawCall sends body to a search endpoint as any caller could, bypassing the typed client.
func rawCall(t *testing.T, f *fixture, token, name string, body raw) error {
	t.Helper()
	ep := contracts.Endpoint[raw, raw]{Service: contracts.SearchService, Name: name}
	_, err := bus.Call(bus.WithAuthToken(t.Context(), token), f.Runtime.Client(), ep, body)
	return err
}

func TestEveryValidationError(t *testing.T) {
	t.Parallel()
	f := start(t)
	token := f.Issuer.Token(authntest.Consumer())
	long := strings.Repeat("가", contracts.MaxSearchQueryLen+1)
	for _, tc := range []struct {
		name     string
		endpoint string
		body     raw
		want     *contracts.Error
		field    string
	}{
		{"record without query", "record", raw{}, contracts.ErrValidation, "query"},
		{"record blank query", "record", raw{"query": " \t "}, contracts.ErrValidation, "query"},
		{"record query too long", "record", raw{"query": long}, contracts.ErrValidation, "query"},
		{"record control character", "record", raw{"query": "a\u0000b"}, contracts.ErrValidation, "query"},
		{"record query not a string", "record", raw{"query": 7}, contracts.ErrValidation, "query"},
		{"record unknown field", "record", raw{"query": "x", "user_id": "someone-else"}, contracts.ErrUnknownField, "user_id"},
		{"recent negative limit", "recent", raw{"limit": -1}, contracts.ErrValidation, "limit"},
		{"recent limit too big", "recent", raw{"limit": contracts.SearchRecentMax + 1}, contracts.ErrValidation, "limit"},
		{"recent unknown field", "recent", raw{"user_id": "someone-else"}, contracts.ErrUnknownField, "user_id"},
		{"delete_recent without query", "delete_recent", raw{}, contracts.ErrValidation, "query"},
		{"delete_recent blank query", "delete_recent", raw{"query": ""}, contracts.ErrValidation, "query"},
		{"delete_recent query too long", "delete_recent", raw{"query": long}, contracts.ErrValidation, "query"},
		{"clear_recent unknown field", "clear_recent", raw{"user_id": "someone-else"}, contracts.ErrUnknownField, "user_id"},
		{"popular limit zero or less", "popular", raw{"limit": -5}, contracts.ErrValidation, "limit"},
		{"popular limit too big", "popular", raw{"limit": contracts.SearchPopularMax + 1}, contracts.ErrValidation, "limit"},
		{"popular window too long", "popular", raw{"window_hours": contracts.SearchWindowHoursMax + 1}, contracts.ErrValidation, "window_hours"},
		{"popular negative window", "popular", raw{"window_hours": -1}, contracts.ErrValidation, "window_hours"},
		{"popular window not a number", "popular", raw{"window_hours": "24h"}, contracts.ErrValidation, "window_hours"},
		{"suggest without prefix", "suggest", raw{}, contracts.ErrValidation, "prefix"},
		{"suggest blank prefix", "suggest", raw{"prefix": "  "}, contracts.ErrValidation, "prefix"},
		{"suggest prefix too long", "suggest", raw{"prefix": long}, contracts.ErrValidation, "prefix"},
		{"suggest control character", "suggest", raw{"prefix": "\u0007"}, contracts.ErrValidation, "prefix"},
		{"suggest limit too big", "suggest", raw{"prefix": "a", "limit": contracts.SearchSuggestMax + 1}, contracts.ErrValidation, "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			moatest.WantError(t, rawCall(t, f, token, tc.endpoint, tc.body), tc.want, tc.field, tc.name)
		})
	}
	// Nothing invalid was recorded.
	if n, err := f.Mongo.Collection("searches").CountDocuments(t.Context(), raw{}); err != nil || n != 0 {
		t.Fatalf("%d searches recorded (%v), want 0", n, err)
	}
}

// Validation runs before authentication, so a bad request is reported as such even without a
// token; with a valid body and no token the caller is told to authenticate.
func TestBadRequestWithoutTokenIsStillAValidationError(t *testing.T) {
	t.Parallel()
	f := start(t)
	moatest.WantError(t, rawCall(t, f, "", "record", raw{"query": ""}), contracts.ErrValidation, "query", "record blank without token")
	moatest.WantError(t, rawCall(t, f, "", "record", raw{"query": "x"}), contracts.ErrUnauthenticated, "", "record without token")
	moatest.WantError(t, rawCall(t, f, "not-a-jwt", "recent", raw{}), contracts.ErrTokenInvalid, "", "garbage token")
}
