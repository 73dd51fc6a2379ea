package edge

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
	"github.com/moa-run/moa/moatest"
)

func TestOriginAllowlist(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{AllowedOrigins: []string{"https://shop.example.com"}})
	for _, o := range []string{"https://evil.example.com", "http://shop.example.com", "https://shop.example.com.evil.net", "null"} {
		_, resp, err := dialRaw(ed.url, withOrigin(o))
		if err == nil {
			t.Fatalf("origin %q was accepted", o)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %q: %v %v, want 403", o, resp, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"origin_forbidden"`) {
			t.Fatalf("origin %q: body %s", o, b)
		}
	}
	dial(t, ed.url, withOrigin("https://SHOP.example.com"))
	dial(t, ed.url, withOrigin(ed.srv.URL)) // the edge's own page
	dial(t, ed.url)                         // not a browser
}

func TestOversizeFrameIsClosed(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{MaxFrameBytes: 1024})
	c := dial(t, ed.url)
	c.call(map[string]any{"type": "auth", "anonymous": true})
	// Just under the limit is fine…
	pad := strings.Repeat("x", 1024-len(`{"v":1,"type":"ping","id":""}`))
	c.sendRaw(`{"v":1,"type":"ping","id":"` + pad[:60] + `"}`)
	// …one byte over closes with 1009.
	c.sendRaw(`{"v":1,"type":"req","id":"big","method":"catalog.get_product","body":{"id":"` + strings.Repeat("y", 1024) + `"}}`)
	ce, _ := c.expectClose(10 * time.Second)
	if ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("closed with %d %q, want 1009", ce.Code, ce.Text)
	}
}

func TestDecompressedSizeIsLimited(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{MaxFrameBytes: 4096, Compression: true})
	c := dial(t, ed.url, withCompression())
	c.ws.EnableWriteCompression(true)
	c.call(map[string]any{"type": "auth", "anonymous": true})
	// A compressed frame well under the limit is accepted.
	if f := c.req("catalog.nope", map[string]any{"pad": strings.Repeat(" ", 1000)}); f.Type != protocol.TypeError || f.Error.Code != "unknown_method" {
		t.Fatalf("small compressed frame: %+v", f)
	}
	// 1 MiB of spaces compresses to about a kilobyte: under the wire limit, far over the frame
	// limit once inflated.
	bomb := `{"v":1,"type":"ping","id":"x"` + strings.Repeat(" ", 1<<20) + `}`
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(bomb)); err != nil {
		t.Fatal(err)
	}
	ce, _ := c.expectClose(10 * time.Second)
	if ce.Code != protocol.CloseTooBig || ce.Text != "payload_too_large" {
		t.Fatalf("closed with %d %q, want 1009 payload_too_large", ce.Code, ce.Text)
	}
}

func TestRateLimitErrorFrameThenClose(t *testing.T) {
	e := newEnv(t)
	// One token per 100 s: no refill during the test, however slow the machine.
	ed := e.edge(Config{RatePerSec: 0.01, Burst: 3, MaxStrikes: 5})
	c := dial(t, ed.url)
	for i := range 4 {
		c.sendRaw(fmt.Sprintf(`{"v":1,"type":"ping","id":"p%d"}`, i))
	}
	for i := range 3 {
		if f := c.next(); f.Type != protocol.TypePong || f.ID != fmt.Sprintf("p%d", i) {
			t.Fatalf("frame %d within the burst: %+v", i, f)
		}
	}
	f := c.next()
	wantError(t, f, "rate_limited")
	if f.ID != "p3" || !strings.Contains(f.Error.Message, "0.01 frames per second") {
		t.Fatalf("rate-limit frame %+v %+v; want the frame's id and the limit", f, f.Error)
	}
	// A client that keeps going is closed.
	for i := range 10 {
		c.sendRaw(fmt.Sprintf(`{"v":1,"type":"ping","id":"q%d"}`, i))
	}
	wantClose(t, c, protocol.CloseRateLimited, "rate_limited")
}

func TestSlowReaderIsClosedWhileOthersKeepReceiving(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{SendQueue: 64, WriteTimeout: 30 * time.Second})
	slowUser, fastUser := principal(contracts.RoleConsumer), principal(contracts.RoleConsumer)
	slow := dial(t, ed.url)
	slow.mustAuth(e.iss.token(slowUser))
	fast := dial(t, ed.url)
	fast.mustAuth(e.iss.token(fastUser))

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		fastGot []int
		fastErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			f, err := fast.read(20 * time.Second)
			if err != nil {
				mu.Lock()
				fastErr = err
				mu.Unlock()
				return
			}
			var b struct{ N int }
			_ = json.Unmarshal(f.Body, &b)
			mu.Lock()
			fastGot = append(fastGot, b.N)
			done := b.N == -1
			mu.Unlock()
			if done {
				return
			}
		}
	}()

	// The slow client reads nothing while pushes of 32 KiB pile up: the socket buffers fill,
	// then the edge's queue for it.
	big := strings.Repeat("z", 32<<10)
	sent := 0
	moatest.Eventually(t, 60*time.Second, func() bool {
		for range 4 {
			e.push(slowUser.UserID, "test.big", 0, map[string]any{"pad": big})
			e.push(fastUser.UserID, "test.n", 0, map[string]any{"n": sent})
			sent++
		}
		return counterValue(ed.g.metrics.slow) == 1
	}, "the slow reader was never closed")
	e.push(fastUser.UserID, "test.n", 0, map[string]any{"n": -1})

	// Reading again, the slow client finds the close with its reason after what was written.
	ce, _ := slow.expectClose(30 * time.Second)
	if ce.Code != protocol.CloseSlowConsumer || ce.Text != "slow_consumer" {
		t.Fatalf("slow client closed with %d %q, want 4408 slow_consumer", ce.Code, ce.Text)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if fastErr != nil {
		t.Fatalf("fast client: %v after %d frames", fastErr, len(fastGot))
	}
	if len(fastGot) != sent+1 {
		t.Fatalf("fast client got %d of %d pushes", len(fastGot), sent+1)
	}
	for i := range sent {
		if fastGot[i] != i {
			t.Fatalf("fast client's pushes out of order at %d: %v", i, fastGot[i])
		}
	}
}

func TestConnectionsPerUserAreCapped(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{MaxConnsPerUser: 2})
	u := principal(contracts.RoleConsumer)
	a := dial(t, ed.url)
	a.mustAuth(e.iss.token(u))
	b := dial(t, ed.url)
	b.mustAuth(e.iss.token(u))
	c := dial(t, ed.url)
	wantError(t, c.auth(e.iss.token(u)), "too_many_connections")
	wantClose(t, c, protocol.CloseTooManyConns, "too_many_connections")
	// Another user is not affected, and a freed slot can be used again.
	dial(t, ed.url).mustAuth(e.iss.token(principal(contracts.RoleConsumer)))
	_ = a.ws.Close()
	moatest.Eventually(t, 10*time.Second, func() bool {
		d := dial(t, ed.url)
		ok := d.auth(e.iss.token(u)).Type == protocol.TypeOK
		_ = d.ws.Close()
		return ok
	}, "the closed connection's slot was not freed")
}

func TestPingPong(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{PingInterval: 200 * time.Millisecond, PongTimeout: 1500 * time.Millisecond})
	c := dial(t, ed.url)
	if f := c.call(map[string]any{"type": "ping"}); f.Type != protocol.TypePong {
		t.Fatalf("app-level ping: %+v", f)
	}
	c.call(map[string]any{"type": "auth", "anonymous": true})
	// WebSocket pings arrive and the default handler answers them: the idle connection stays.
	pings := make(chan struct{}, 100)
	c.ws.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	// A read timeout breaks a gorilla connection, so one reader waits past the 2 s watched.
	readErr := make(chan error, 1)
	go func() {
		_, err := c.read(30 * time.Second)
		readErr <- err
	}()
	select {
	case err := <-readErr:
		t.Fatalf("idle connection answering pings was closed: %v", err)
	case <-time.After(3 * time.Second): // longer than PingInterval+PongTimeout, on purpose
	}
	if len(pings) < 3 {
		t.Fatalf("%d pings in 3s with a 200ms interval", len(pings))
	}

	// A client that answers nothing is dropped after PingInterval+PongTimeout (1.7 s).
	d := dial(t, ed.url)
	d.call(map[string]any{"type": "auth", "anonymous": true})
	d.ws.SetPingHandler(func(string) error { return nil })
	start := time.Now()
	_, err := d.read(10 * time.Second)
	for err == nil {
		_, err = d.read(10 * time.Second)
	}
	if isTimeout(err) || time.Since(start) > 8*time.Second {
		t.Fatalf("silent client not dropped: %v after %s", err, time.Since(start))
	}
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	te, ok := err.(timeout)
	return ok && te.Timeout()
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// A text message must be UTF-8 (RFC 6455 8.1): one that is not fails the connection with 1007
// instead of being decoded with replacement characters.
func TestInvalidUTF8TextFrameClosesWith1007(t *testing.T) {
	e := newEnv(t)
	ed := e.edge(Config{})
	c := dial(t, ed.url)
	c.call(map[string]any{"type": "auth", "anonymous": true})
	c.sendRaw("{\"v\":1,\"type\":\"ping\",\"id\":\"p\xff\xfe\"}")
	ce, seen := c.expectClose(5 * time.Second)
	if ce.Code != websocket.CloseInvalidFramePayloadData || ce.Text != "bad_request" {
		t.Fatalf("closed with %d %q, want 1007 bad_request", ce.Code, ce.Text)
	}
	if len(seen) != 1 || seen[0].Type != protocol.TypeBye || seen[0].Error == nil || seen[0].Error.Code != "bad_request" {
		t.Fatalf("frames before the close: %+v, want one bye", seen)
	}
}
