package protocol

import (
	"errors"
	"testing"

	"github.com/moa-run/moa/contracts"
)

// FuzzDecode checks that no input panics the decoder, that every rejection is a catalogue
// error, and that whatever is accepted round-trips through its own rules (a method is always
// two safe tokens, a typing room is a safe subject token).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"auth","id":"a1","token":"t"}`,
		`{"v":1,"type":"req","id":"r1","method":"catalog.get_product","body":{"id":"p1"}}`,
		`{"v":1,"type":"resume","id":"s1","since":5}`,
		`{"v":1,"type":"typing","room":"r"}`,
		`{"v":1,"type":"ping"}`,
		`{"v":1,"type":"subscribe","id":"t","topic":"room:abc"}`,
		`{"v":1,"type":"auth","id":"a","anonymous":true}`,
		`{"v":1,"type":"req","id":"r","method":"a.b","body":{"x":[1,2,{"y":null}]}}`,
		`{}`, `[]`, `null`, `{"v":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Decode(data)
		if err != nil {
			var ce *contracts.Error
			if !errors.As(err, &ce) || contracts.Lookup(ce.Code) == nil {
				t.Fatalf("error outside the catalogue: %v", err)
			}
			return
		}
		switch fr.Type {
		case TypeRequest:
			if !methodChars(fr.Method) {
				t.Fatalf("accepted bad method %q", fr.Method)
			}
		case TypeTyping:
			if !contracts.IsToken(fr.Room) {
				t.Fatalf("accepted unsafe room %q", fr.Room)
			}
		case TypeSubscribe, TypeUnsubscribe:
			if !contracts.IsToken(RoomOfTopic(fr.Topic)) {
				t.Fatalf("accepted unsafe topic %q", fr.Topic)
			}
		case TypeAuth:
			if fr.Anonymous == (fr.Token != "") {
				t.Fatalf("auth frame must have exactly one of token and anonymous: %+v", fr)
			}
		}
	})
}
