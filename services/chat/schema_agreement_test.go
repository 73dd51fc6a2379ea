package chat_test

import (
	"testing"

	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
)

// TestGeneratedRequestsAgreeWithTheService sends the requests generated from the schemas
// (contracts/schemagen/requestgen) to a running chat service as raw JSON: each request valid
// by the schema passes validation (a message id may still be not_found), each invalid one is
// refused naming its field. The example room id is replaced with a real room of the caller,
// so that send and history reach the service's own checks.
func TestGeneratedRequestsAgreeWithTheService(t *testing.T) {
	f := start(t)
	consumer, seller := authntest.Consumer(), authntest.Seller()
	product := f.product(seller, "Tea club")
	room, err := f.chat.OpenRoom(f.as(consumer), product)
	if err != nil {
		t.Fatal(err)
	}
	const exampleRoom = "r-1" // the example of every chat id (contracts' ruleToken)
	sent := requestgen.Against(t, f.as(consumer), f.Runtime, []contracts.EndpointInfo{
		contracts.ChatOpenRoom.Info(), contracts.ChatSend.Info(), contracts.ChatHistory.Info(), contracts.ChatMarkRead.Info(),
		contracts.ChatRooms.Info(), contracts.ChatGetRoom.Info(),
	}, func(_ string, body map[string]any) map[string]any {
		if body["room_id"] == exampleRoom {
			body["room_id"] = room.ID
		}
		return requestgen.WithID(body, product)
	})
	t.Logf("%d generated requests sent", sent)
}
