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
