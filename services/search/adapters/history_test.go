package adapters

import (
	"slices"
	"strings"
	"testing"
)

// Every query a user can have searched survives the history's string format, and histories
// stored in the first format (JSON) still read.
func TestHistoryFormatRoundTrips(t *testing.T) {
	t.Parallel()
	items := []historyItem{
		{Query: "yoga mat", TS: 1_765_000_000_123_456_789},
		{Query: `say "hi" \ <b> & 12 34`, TS: 2},
		{Query: "요가 매트 7 ", TS: 1},
		{Query: "1 2", TS: 0},
		{Query: strings.Repeat("x", 200), TS: -5},
	}
	s := encodeItems(items)
	if strings.ContainsAny(s, "\"\\") != strings.ContainsAny(items[1].Query, "\"\\") || strings.HasPrefix(s, "[") {
		t.Fatalf("encoded %q", s)
	}
	got, err := decodeItems(s)
	if err != nil || !slices.Equal(got, items) {
		t.Fatalf("decodeItems(encodeItems) = %+v, %v; want %+v", got, err, items)
	}
	old, err := decodeItems(`[{"q":"yoga","t":5},{"q":"a \"b\"","t":3}]`)
	if err != nil || !slices.Equal(old, []historyItem{{"yoga", 5}, {`a "b"`, 3}}) {
		t.Fatalf("first format: %+v, %v", old, err)
	}
	if items, err := decodeItems(""); err != nil || items != nil {
		t.Fatalf("empty: %+v, %v", items, err)
	}
	for _, bad := range []string{"12 5 abc", "x 1 a", "12 a b", "12", "[{", "3 -1 "} {
		if _, err := decodeItems(bad); err == nil {
			t.Fatalf("decodeItems(%q) succeeded", bad)
		}
	}
}
