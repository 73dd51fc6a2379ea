package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/moa-run/moa/contracts"
)

type codecItem struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty,omitempty"`
}

type codecAddr struct {
	City string `json:"city"`
}

type codecReq struct {
	Name  string      `json:"name"`
	Addr  codecAddr   `json:"addr"`
	Items []codecItem `json:"items"`
	Note  *string     `json:"note"`
	Tags  []string    `json:"tags,omitempty"`
}

func TestDecodeRequestNamesNestedAndNullFields(t *testing.T) {
	cases := []struct{ body, code, field string }{
		{`{"name":"a","addr":{"city":"x"},"items":[],"note":null}`, "", ""},
		{`{"name":null,"addr":{"city":"x"},"items":[],"note":null}`, "validation_failed", "name"},
		{`{"name":"a","addr":{},"items":[],"note":null}`, "validation_failed", "addr.city"},
		{`{"name":"a","addr":{"city":"x"},"items":[{"qty":1}],"note":null}`, "validation_failed", "items[0].sku"},
		{`{"name":"a","addr":{"city":"x"},"items":null,"note":null}`, "", ""},
		{`{"name":"a","addr":5,"items":[],"note":null}`, "validation_failed", "addr"},
		{`{"name":"a","addr":{"city":"x"},"items":[]}`, "validation_failed", "note"},
		{`[1]`, "bad_request", ""},
	}
	for _, c := range cases {
		_, err := decodeRequest[codecReq]([]byte(c.body))
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: unexpected %v", c.body, err)
			}
			continue
		}
		var ce *contracts.Error
		if !errors.As(err, &ce) || ce.Code != c.code || ce.Field != c.field {
			t.Errorf("%s: got %v, want %s on %q", c.body, err, c.code, c.field)
		}
	}
}

// FuzzMembers checks the scanner against encoding/json: for every valid JSON object, it finds
// the same members with the same raw values; and decodeRequest never panics.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"x\"y","b":[1,{"c":"]"}],"c":null}`, `{"k\u00e9y":{"n":[]}}`, ` { "a" : true } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeRequest[codecReq](data)
		var want map[string]json.RawMessage
		// encoding/json replaces invalid UTF-8 in keys; the scanner keeps the bytes. Such keys
		// can never name a Go field, so the difference does not matter to the required check.
		if !utf8.Valid(data) || json.Unmarshal(data, &want) != nil || want == nil {
			return
		}
		ms, ok := members(bytes.TrimSpace(data))
		if !ok {
			t.Fatalf("scanner rejected a valid object %q", data)
		}
		for k, v := range want {
			got, found := lookup(ms, k)
			if !found || !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(v)) {
				t.Fatalf("key %q: scanner %q, json %q", k, got, v)
			}
		}
	})
}
