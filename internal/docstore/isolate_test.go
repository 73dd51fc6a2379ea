package docstore

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestIDKey(t *testing.T) {
	key := func(filter any) (string, bool) {
		t.Helper()
		b, err := bson.Marshal(filter)
		if err != nil {
			t.Fatal(err)
		}
		return idKey(b)
	}
	same := [][2]any{
		{bson.D{{Key: "_id", Value: int32(1)}}, bson.D{{Key: "_id", Value: 1.0}}},
		{bson.D{{Key: "_id", Value: int64(1)}, {Key: "x", Value: 2}}, bson.D{{Key: "_id", Value: bson.D{{Key: "$eq", Value: int32(1)}}}}},
		{bson.D{{Key: "_id", Value: "room-1"}}, bson.D{{Key: "last", Value: "z"}, {Key: "_id", Value: "room-1"}}},
		{bson.D{{Key: "_id", Value: bson.D{{Key: "a", Value: 1}}}}, bson.D{{Key: "_id", Value: bson.D{{Key: "a", Value: 1}}}}},
	}
	for _, p := range same {
		a, okA := key(p[0])
		b, okB := key(p[1])
		if !okA || !okB || a != b {
			t.Errorf("%v and %v: keys %q (%v), %q (%v), want one key", p[0], p[1], a, okA, b, okB)
		}
	}
	if a, _ := key(bson.D{{Key: "_id", Value: "1"}}); a == func() string { k, _ := key(bson.D{{Key: "_id", Value: 1}}); return k }() {
		t.Error(`"1" and 1 share a key`)
	}
	for _, f := range []any{
		bson.D{},
		bson.D{{Key: "room", Value: "r"}},
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b"}}}}},
		bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: 1}}}},
		bson.D{{Key: "_id", Value: bson.A{1, 2}}},
	} {
		if k, ok := key(f); ok {
			t.Errorf("%v: key %q, want none (more than one document may match)", f, k)
		}
	}
}

// Malformed or foreign messages are passed through without a lock (FerretDB
// answers them), never a panic.
func TestParseCommandIgnoresWhatItCannotRead(t *testing.T) {
	for _, msg := range [][]byte{
		make([]byte, 16),
		append(header(2013, 40), make([]byte, 24)...),
		append(header(2013, 25), 0, 0, 0, 0, 0),
		append(header(2004, 30), make([]byte, 14)...),
	} {
		if cmd := parseCommand(msg); cmd != nil {
			t.Errorf("%x read as %+v", msg, cmd)
		}
	}
}

func header(op uint32, n int) []byte {
	return []byte{byte(n), byte(n >> 8), 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, byte(op), byte(op >> 8), 0, 0}
}
