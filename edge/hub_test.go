package edge

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// The hand-built push frames decode exactly like the frames protocol.Encode builds.
func TestPushFrameMatchesEncode(t *testing.T) {
	for _, p := range []contracts.Push{
		{Topic: contracts.PushTopicNotification, Seq: 42, Body: json.RawMessage(`{"seq":42,"title":"Hi \"there\""}`)},
		{Topic: contracts.PushTopicChatMessage, Body: json.RawMessage(`{"text":"<b>안녕</b>"}`)},
		{Topic: `odd"topic\u2028`, Seq: 7, Body: json.RawMessage(`[1,2]`)},
		{Topic: "empty"},
	} {
		got, err := pushFrame(p)
		if err != nil {
			t.Fatal(err)
		}
		f := protocol.ServerFrame{Type: protocol.TypeEvent, Topic: p.Topic, Seq: p.Seq, Body: p.Body}
		if p.Topic == contracts.PushTopicNotification {
			f = protocol.ServerFrame{Type: protocol.TypeNotification, Seq: p.Seq, Body: p.Body}
		}
		if len(p.Body) == 0 {
			f.Body = json.RawMessage("null")
		}
		want, err := protocol.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s is not JSON: %v", got, err)
		}
		_ = json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("push frame\n%s\nwant\n%s", got, want)
		}
	}
}

// decodePush reads what json.Marshal makes of a push directly and must agree with
// json.Unmarshal on everything, that shape or not.
func TestDecodePushAgreesWithEncodingJSON(t *testing.T) {
	inputs := []string{
		`{"topic":"notification","seq":7,"body":{"t":1}}`,
		`{"topic":"chat.message","body":{"id":"m1","text":"a \"quoted\" }"}}`,
		`{"topic":"x","seq":18446744073709551615,"body":null}`,
		`{"topic":"x","seq":1844674407370955161599,"body":1}`,
		`{"topic":"x","seq":01,"body":1}`,
		`{"topic":"x","seq":-1,"body":1}`,
		`{"topic":"x","body":{"a":1},"more":2}`,
		`{"topic":"x","body":{"a":1}`,
		`{"topic":"x","body":}`,
		`{"topic":"é\u00e9","body":[]}`,
		`{"topic":"a\"b","body":[]}`,
		"{\"topic\":\"\xff\",\"body\":[]}",
		`{"body":[],"topic":"late"}`,
		`{"topic":"","body":1}`,
		`{"topic":"x", "body":1}`,
		`{"topic":"x","body":1,"body":2}`,
		`not json`,
		``,
	}
	for _, in := range inputs {
		got, gotErr := decodePush([]byte(in))
		var want contracts.Push
		wantErr := json.Unmarshal([]byte(in), &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%s: error %v, encoding/json says %v", in, gotErr, wantErr)
		}
		if gotErr == nil && (got.Topic != want.Topic || got.Seq != want.Seq || string(got.Body) != string(want.Body)) {
			t.Fatalf("%s: got %+v (body %s), encoding/json %+v (body %s)", in, got, got.Body, want, want.Body)
		}
	}
}
