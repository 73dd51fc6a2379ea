package edge

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// Pushes to an idle connection are written at once by the hub (writeNow); a client that does
// not read fills the socket, and a frame the socket takes only in part has its rest written
// by the writer before anything else, pongs included. Frame sizes cover the three WebSocket
// length encodings; the client (gorilla) fails on any frame that is cut or interleaved.
func TestPartialWritesKeepFramesWholeAndInOrder(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{SendQueue: 4096, WriteTimeout: 30 * time.Second})
	u := principal(contracts.RoleConsumer)
	c := dial(t, ed.url)
	c.mustAuth(e.iss.token(u))

	sizes := []int{10, 40 << 10, 200, 70 << 10, 125, 126, 65535 - 40}
	const n = 300 // about 10 MB: more than loopback socket buffers hold
	for i := range n {
		e.push(u.UserID, "test.n", 0, map[string]any{"n": i, "pad": strings.Repeat("p", sizes[i%len(sizes)])})
	}
	if err := e.rt.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	// A ping while frames are still pending: its pong must not cut into them.
	var pongs atomic.Int32
	c.ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f, err := c.read(30 * time.Second)
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		var b struct {
			N   int
			Pad string
		}
		if f.Type != protocol.TypeEvent || json.Unmarshal(f.Body, &b) != nil || b.N != i || len(b.Pad) != sizes[i%len(sizes)] {
			t.Fatalf("push %d: got type %q n=%d pad %d bytes", i, f.Type, b.N, len(b.Pad))
		}
	}
	// The pong came with the frames; the connection still answers.
	if f := c.call(map[string]any{"type": "ping"}); f.Type != protocol.TypePong {
		t.Fatalf("after the pushes: %+v", f)
	}
	if pongs.Load() != 1 {
		t.Fatalf("%d pongs for one ping", pongs.Load())
	}
}

func TestWireTextLengthEncodings(t *testing.T) {
	for _, tc := range []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		payload := []byte(strings.Repeat("x", tc.n))
		w := wireText(payload)
		if string(w[:len(tc.header)]) != string(tc.header) || string(w[len(tc.header):]) != string(payload) {
			t.Fatalf("%d bytes: header % x", tc.n, w[:min(len(w), 10)])
		}
	}
}

// With permessage-deflate negotiated, small frames are written at once and large ones are
// compressed by the writer; the two paths keep the pushes in order.
func TestCompressedAndImmediateFramesStayInOrder(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{Compression: true})
	u := principal(contracts.RoleConsumer)
	c := dial(t, ed.url, withCompression())
	c.mustAuth(e.iss.token(u))
	const n = 200
	pad := func(i int) int {
		if i%3 == 0 {
			return 4 << 10 // compressed (≥ compressMin)
		}
		return 10
	}
	for i := range n {
		e.push(u.UserID, "test.n", 0, map[string]any{"n": i, "pad": strings.Repeat("c", pad(i))})
	}
	for i := range n {
		f := c.next()
		var b struct {
			N   int
			Pad string
		}
		if json.Unmarshal(f.Body, &b) != nil || b.N != i || len(b.Pad) != pad(i) {
			t.Fatalf("push %d: n=%d pad %d bytes (%+v)", i, b.N, len(b.Pad), f.Type)
		}
	}
}
