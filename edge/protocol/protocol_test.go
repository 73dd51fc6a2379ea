package protocol

import (
	"errors"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
)

func TestDecodeAcceptsEveryDocumentedFrame(t *testing.T) {
	for _, s := range []string{
		`{"v":1,"type":"auth","id":"a1","token":"eyJ.x.y"}`,
		`{"v":1,"type":"refresh","id":"a2","token":"eyJ.x.y"}`,
		`{"v":1,"type":"req","id":"r1","method":"catalog.get_product","body":{"id":"p1"}}`,
		`{"v":1,"type":"req","id":"r2","method":"catalog.list_products"}`,
		`{"v":1,"type":"resume","id":"s1","since":0}`,
		`{"v":1,"type":"typing","room":"room-1"}`,
		`{"v":1,"type":"subscribe","id":"t1","topic":"room:room-1"}`,
		`{"v":1,"type":"unsubscribe","id":"t2","topic":"room:room-1"}`,
		`{"v":1,"type":"auth","id":"a3","anonymous":true}`,
		`{"v":1,"type":"ping"}`,
	} {
		if _, err := Decode([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestDecodeRejectsWithCodes(t *testing.T) {
	cases := []struct{ frame, code, field string }{
		{`not json`, "bad_request", ""},
		{`{"v":1,"type":"ping"} {}`, "bad_request", ""},
		{`{"v":2,"type":"ping"}`, "validation_failed", "v"},
		{`{"v":1}`, "validation_failed", "type"},
		{`{"v":1,"type":"shout"}`, "validation_failed", "type"},
		{`{"v":1,"type":"ping","extra":1}`, "bad_request", ""},
		{`{"v":1,"type":"auth","id":"a"}`, "validation_failed", "token"},
		{`{"v":1,"type":"req","id":"r","method":"catalog.>"}`, "validation_failed", "method"},
		{`{"v":1,"type":"req","id":"r","method":"catalog.x.y"}`, "validation_failed", "method"},
		{`{"v":1,"type":"req","id":"r","method":"catalog.get","body":[1]}`, "validation_failed", "body"},
		{`{"v":1,"type":"req","method":"catalog.get"}`, "validation_failed", "id"},
		{`{"v":1,"type":"typing","room":"a.b"}`, "invalid_subject_token", "room"},
		{`{"v":1,"type":"typing","room":"a *"}`, "invalid_subject_token", "room"},
		{`{"v":1,"type":"resume","id":"s"}`, "validation_failed", "since"},
		{`{"v":1,"type":"subscribe","id":"t","topic":"presence"}`, "validation_failed", "topic"},
		{`{"v":1,"type":"subscribe","id":"t","topic":"room:a.b"}`, "invalid_subject_token", "topic"},
		{`{"v":1,"type":"subscribe","id":"t","topic":"room:>"}`, "invalid_subject_token", "topic"},
		{`{"v":1,"type":"subscribe","topic":"room:r"}`, "validation_failed", "id"},
		{`{"v":1,"type":"auth","id":"a","anonymous":true,"token":"t"}`, "validation_failed", "token"},
		{`{"v":1,"type":"refresh","id":"a","anonymous":true}`, "validation_failed", "anonymous"},
		{`{"v":1,"type":"resume","id":"s","since":-1}`, "bad_request", ""},
		{`{"v":1,"type":"auth","id":"a","token":"` + strings.Repeat("x", MaxTokenLen+1) + `"}`, "validation_failed", "token"},
		{`{"v":1,"type":"ping","id":"` + strings.Repeat("x", 65) + `"}`, "validation_failed", "id"},
	}
	for _, c := range cases {
		_, err := Decode([]byte(c.frame))
		var ce *contracts.Error
		if !errors.As(err, &ce) || ce.Code != c.code || ce.Field != c.field {
			t.Errorf("%s: got %v, want %s on %q", c.frame, err, c.code, c.field)
		}
	}
}

func TestErrorFrameHidesCauses(t *testing.T) {
	f := ErrorFrame("x", contracts.ErrInternal.Wrap(errors.New("db password is hunter2")))
	b, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") {
		t.Fatalf("cause leaked: %s", b)
	}
}

// Every rejected frame whose id can be read gets it back, so the client's call does not
// wait forever for an answer.
func TestDecodeReturnsTheIDOfARejectedFrame(t *testing.T) {
	long := strings.Repeat("x", MaxIDLen+1)
	cases := []struct{ frame, id string }{
		{`{"v":1,"type":"ping","id":"u1","extra":1}`, "u1"},
		{`{"v":1,"type":"req","id":"u2","method":"catalog.get","body":{},"Extra":[1,2]}`, "u2"},
		{`{"v":1,"type":"resume","id":"u3","since":-1}`, "u3"},
		{`{"v":1,"type":"ping","id":"u4"} {}`, "u4"},
		{`{"v":1,"type":"ping","id":"` + long + `"}`, long},
		{`{"v":2,"type":"ping","id":"u5"}`, "u5"},
		{`{"v":1,"type":"shout","id":"u6"}`, "u6"},
		{`{"v":1,"type":"ping","id":7,"extra":1}`, ""}, // not a string: nothing to echo
		{`{"v":1,"type":"ping","id":"u8"`, ""},         // not JSON: nothing readable
	}
	for _, c := range cases {
		f, err := Decode([]byte(c.frame))
		if err == nil {
			t.Errorf("%s: accepted", c.frame)
			continue
		}
		if f.ID != c.id {
			t.Errorf("%s: id %q, want %q", c.frame, f.ID, c.id)
		}
	}
}
