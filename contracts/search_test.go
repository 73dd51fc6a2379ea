package contracts_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
)

func TestNormalizeSearchQuery(t *testing.T) {
	nfd := "\u110b\u116d\u1100\u1161" // 요가 typed as decomposed jamo
	for _, tc := range []struct{ in, want string }{
		{"yoga", "yoga"},
		{"  Yoga \t  CLASS\n", "yoga class"},
		{"요가 클래스", "요가 클래스"},
		{nfd, "요가"},
		{"ÉCOLE", "école"},
		{"a+b (c)", "a+b (c)"},
		{strings.Repeat("가", contracts.MaxSearchQueryLen), strings.Repeat("가", contracts.MaxSearchQueryLen)},
		{" " + strings.Repeat("x", contracts.MaxSearchQueryLen) + "   ", strings.Repeat("x", contracts.MaxSearchQueryLen)},
	} {
		got, err := contracts.NormalizeSearchQuery("query", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeSearchQuery(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizeSearchQueryRejects(t *testing.T) {
	for _, in := range []string{
		"", "   ", "\t\n",
		"a\x00b", "bell\x07",
		"\xff\xfe",
		strings.Repeat("x", contracts.MaxSearchQueryLen+1),
		strings.Repeat("가", contracts.MaxSearchQueryLen+1),
	} {
		_, err := contracts.NormalizeSearchQuery("q", in)
		var ce *contracts.Error
		if !errors.As(err, &ce) || !errors.Is(err, contracts.ErrValidation) || ce.Field != "q" {
			t.Errorf("NormalizeSearchQuery(%q): got %v, want validation_failed on field q", in, err)
		}
	}
}

func TestNormalizeSearchPrefixKeepsOneTrailingSpace(t *testing.T) {
	for in, want := range map[string]string{"New ": "new ", "  new   ": "new ", "new": "new", "new  y": "new y"} {
		got, err := contracts.NormalizeSearchPrefix("prefix", in)
		if err != nil || got != want {
			t.Errorf("NormalizeSearchPrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSearchRequestLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     interface{ Validate() error }
		field string
	}{
		{"recent limit negative", contracts.SearchRecentRequest{Limit: -1}, "limit"},
		{"recent limit too big", contracts.SearchRecentRequest{Limit: contracts.SearchRecentMax + 1}, "limit"},
		{"popular limit too big", contracts.SearchPopularRequest{Limit: contracts.SearchPopularMax + 1}, "limit"},
		{"popular window too long", contracts.SearchPopularRequest{WindowHours: contracts.SearchWindowHoursMax + 1}, "window_hours"},
		{"popular window negative", contracts.SearchPopularRequest{WindowHours: -1}, "window_hours"},
		{"suggest blank prefix", contracts.SearchSuggestRequest{Prefix: " "}, "prefix"},
		{"suggest limit too big", contracts.SearchSuggestRequest{Prefix: "a", Limit: contracts.SearchSuggestMax + 1}, "limit"},
		{"record blank", contracts.SearchRecordRequest{Query: ""}, "query"},
		{"delete blank", contracts.SearchDeleteRecentRequest{Query: " "}, "query"},
	} {
		var ce *contracts.Error
		if err := tc.v.Validate(); !errors.As(err, &ce) || ce.Code != contracts.ErrValidation.Code || ce.Field != tc.field {
			t.Errorf("%s: got %v, want validation_failed on %s", tc.name, err, tc.field)
		}
	}
	for _, ok := range []interface{ Validate() error }{
		contracts.SearchRecentRequest{}, contracts.SearchRecentRequest{Limit: contracts.SearchRecentMax},
		contracts.SearchPopularRequest{}, contracts.SearchPopularRequest{Limit: 1, WindowHours: 1},
		contracts.SearchSuggestRequest{Prefix: "a"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%#v: %v", ok, err)
		}
	}
}
