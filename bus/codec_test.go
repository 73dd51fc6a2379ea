package bus

import (
	"errors"
	"testing"

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
