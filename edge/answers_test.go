package edge

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge/protocol"
)

// answerCase provokes one row of docs/protocol.md's answers table over a real WebSocket. Its
// name is the row's first cell; what the answer must be (code, field, id) is read from the row,
// so the document is what is tested.
type answerCase struct {
	name string
	cfg  Config
	as   string // the session before the frame: "" (no auth frame), "anonymous", or a role
	// frame is sent with ID replaced by a fresh id, and the answer is the next frame.
	frame string
	// run replaces frame for cases that need more than one frame; it returns the answer and
	// the id the provoking frame carried.
	run func(t *testing.T, x *answersEnv, c *wsClient, u contracts.Principal) (frame, string)
}

// answersEnv is one NATS server with a catalog whose list_products hangs until the test
// ends and whose popular_products always fails.
type answersEnv struct {
	*env
}

var answerCases = []answerCase{
	{name: "a frame other than `auth` or `ping` before `auth` succeeded",
		frame: `{"v":1,"type":"req","id":"ID","method":"catalog.get_product","body":{"id":"p1"}}`},
	{name: "`v` missing", as: "anonymous", frame: `{"type":"ping","id":"ID"}`},
	{name: "`v` other than 1", as: "anonymous", frame: `{"v":2,"type":"ping","id":"ID"}`},
	{name: "`type` missing", as: "anonymous", frame: `{"v":1,"id":"ID"}`},
	{name: "unknown `type`", as: "anonymous", frame: `{"v":1,"type":"shout","id":"ID"}`},
	{name: "an unknown field", as: "anonymous", frame: `{"v":1,"type":"req","id":"ID","method":"catalog.get_product","bdy":{}}`},
	{name: "a field of the wrong JSON type", as: "anonymous", frame: `{"v":1,"type":"resume","id":"ID","since":"7"}`},
	{name: "not a JSON object", as: "anonymous", frame: `{"v":1,"type":"ping","id":"ID"`},
	{name: "`id` not a string", as: "anonymous", frame: `{"v":1,"type":"ping","id":7}`},
	{name: "`id` over 64 bytes", as: "anonymous", frame: `{"v":1,"type":"ping","id":"ID` + strings.Repeat("x", protocol.MaxIDLen) + `"}`},
	{name: "`auth`, `refresh`, `req`, `resume`, `subscribe` or `unsubscribe` without `id`", as: "anonymous",
		frame: `{"v":1,"type":"req","method":"catalog.get_product"}`},
	{name: "`ping` without `id`", as: "anonymous", frame: `{"v":1,"type":"ping"}`},
	{name: "anonymous `auth` on a signed-in session", as: "consumer", frame: `{"v":1,"type":"auth","id":"ID","anonymous":true}`},
	{name: "anonymous `auth` on an anonymous session", as: "anonymous", frame: `{"v":1,"type":"auth","id":"ID","anonymous":true}`},
	{name: "`auth` with a token on a signed-in session", as: "consumer",
		run: func(t *testing.T, x *answersEnv, c *wsClient, u contracts.Principal) (frame, string) {
			return sendID(c, `{"v":1,"type":"auth","id":"ID","token":"`+x.iss.token(u)+`"}`)
		}},
	{name: "`refresh` on an anonymous session", as: "anonymous",
		run: func(t *testing.T, x *answersEnv, c *wsClient, u contracts.Principal) (frame, string) {
			return sendID(c, `{"v":1,"type":"refresh","id":"ID","token":"`+x.iss.token(u)+`"}`)
		}},
	{name: "`resume` on an anonymous session", as: "anonymous", frame: `{"v":1,"type":"resume","id":"ID","since":0}`},
	{name: "`subscribe` on an anonymous session", as: "anonymous", frame: `{"v":1,"type":"subscribe","id":"ID","topic":"room:r1"}`},
	{name: "`typing` on an anonymous session", as: "anonymous", frame: `{"v":1,"type":"typing","room":"r1"}`},
	{name: "`typing` to a room not subscribed to", as: "consumer", frame: `{"v":1,"type":"typing","room":"r1"}`},
	{name: "`typing` with an `id`, to a room not subscribed to", as: "consumer", frame: `{"v":1,"type":"typing","id":"ID","room":"r1"}`},
	{name: "a room id with `.`, `*`, `>`, spaces or control characters", as: "consumer",
		frame: `{"v":1,"type":"subscribe","id":"ID","topic":"room:r1.>"}`},
	{name: "`req` for a method not on the allowlist", as: "anonymous", frame: `{"v":1,"type":"req","id":"ID","method":"auth.keys"}`},
	{name: "`req` for a signed-in method on an anonymous session", as: "anonymous", frame: `{"v":1,"type":"req","id":"ID","method":"auth.me"}`},
	{name: "`req` for another role's method", as: "consumer",
		frame: `{"v":1,"type":"req","id":"ID","method":"catalog.create_product","body":{"title":"x"}}`},
	{name: "a 17th call in flight on one connection", as: "anonymous",
		run: func(t *testing.T, x *answersEnv, c *wsClient, u contracts.Principal) (frame, string) {
			for range DefaultMaxInflight {
				c.sendRaw(`{"v":1,"type":"req","id":"hang-` + uuid.NewString()[:8] + `","method":"catalog.list_products"}`)
			}
			return sendID(c, `{"v":1,"type":"req","id":"ID","method":"catalog.list_products"}`)
		}},
	{name: "a frame over the rate limit", as: "anonymous", cfg: Config{RatePerSec: 0.01, Burst: 2},
		run: func(t *testing.T, x *answersEnv, c *wsClient, u contracts.Principal) (frame, string) {
			if f := c.call(map[string]any{"type": "ping"}); f.Type != protocol.TypePong {
				t.Fatalf("ping within the burst: %+v", f)
			}
			return sendID(c, `{"v":1,"type":"ping","id":"ID"}`)
		}},
	{name: "`req` to a service most of whose recent calls failed", as: "anonymous",
		run: func(t *testing.T, x *answersEnv, c *wsClient, u contracts.Principal) (frame, string) {
			// The breaker opens once 20 attempts in its window mostly failed (bus.DefaultPolicy).
			for range 30 {
				f, id := sendID(c, `{"v":1,"type":"req","id":"ID","method":"catalog.popular_products"}`)
				if f.Error == nil || f.Error.Code != contracts.ErrUnavailable.Code {
					return f, id
				}
			}
			t.Fatal("the breaker never opened")
			return frame{}, ""
		}},
	{name: "`auth` past the user's connections on this edge", as: "consumer", cfg: Config{MaxConnsPerUser: 1},
		run: func(t *testing.T, x *answersEnv, c *wsClient, u contracts.Principal) (frame, string) {
			second := dial(t, c.url)
			f, id := sendID(second, `{"v":1,"type":"auth","id":"ID","token":"`+x.iss.token(u)+`"}`)
			wantClose(t, second, protocol.CloseTooManyConns, contracts.ErrTooManyConnections.Code)
			return f, id
		}},
}

// sendID sends frame with a fresh id in place of ID and returns the next frame and the id
// the frame carried ("" when it has no string id).
func sendID(c *wsClient, frame string) (frame, string) {
	c.t.Helper()
	sent := strings.Replace(frame, "ID", "q-"+uuid.NewString()[:8], 1)
	c.sendRaw(sent)
	var probe struct {
		ID any `json:"id"`
	}
	_ = json.Unmarshal([]byte(sent), &probe)
	id, _ := probe.ID.(string)
	return c.next(), id
}

// docRow is one row of the answers table.
type docRow struct{ answer, field, id string }

// answersTable reads the answers table from docs/protocol.md.
func answersTable(t *testing.T) map[string]docRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- answers table")
	if !ok {
		t.Fatal("docs/protocol.md has no answers table")
	}
	rows := map[string]docRow{}
	for _, line := range strings.Split(rest, "\n")[3:] { // the marker, the header, the rule
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|") // no cell holds a "|"
		if len(cells) != 4 {
			t.Fatalf("answers table row with %d cells: %s", len(cells), line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[cells[0]] = docRow{answer: cells[1], field: cells[2], id: cells[3]}
	}
	return rows
}

var firstCode = regexp.MustCompile("`([a-z_]+)`")

func TestEveryDocumentedAnswer(t *testing.T) {
	rows := answersTable(t)
	names := map[string]bool{}
	for _, tc := range answerCases {
		names[tc.name] = true
		if _, ok := rows[tc.name]; !ok {
			t.Errorf("case %q is not a row of the answers table in docs/protocol.md", tc.name)
		}
	}
	for name := range rows {
		if !names[name] {
			t.Errorf("docs/protocol.md's answers table row %q has no case in answerCases", name)
		}
	}

	x := &answersEnv{env: newEnv(t)}
	serveAnswersCatalog(t, x.rt)
	for _, tc := range answerCases {
		row, ok := rows[tc.name]
		if !ok {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			ed := x.edge(tc.cfg)
			c := dial(t, ed.url)
			u := principal(contracts.RoleConsumer)
			switch tc.as {
			case "":
			case "anonymous":
				if f := c.call(map[string]any{"type": "auth", "anonymous": true}); f.Type != protocol.TypeOK {
					t.Fatalf("anonymous auth: %+v", f)
				}
			default:
				u = principal(contracts.Role(tc.as))
				c.mustAuth(x.iss.token(u))
			}
			var got frame
			var id string
			if tc.run != nil {
				got, id = tc.run(t, x, c, u)
			} else {
				got, id = sendID(c, tc.frame)
			}
			m := firstCode.FindStringSubmatch(row.answer)
			if m == nil {
				t.Fatalf("row %q: no code in %q", tc.name, row.answer)
			}
			if strings.Contains(row.answer, "not an error") {
				if got.Type != m[1] || got.Error != nil {
					t.Fatalf("got %s %+v, want a %s frame", got.Type, got.Error, m[1])
				}
			} else {
				wantError(t, got, m[1])
				if want := strings.Trim(row.field, "`"); got.Error.Field != want {
					t.Fatalf("field %q, want %q", got.Error.Field, want)
				}
			}
			switch {
			case row.id == "the frame's":
				if id == "" || got.ID != id {
					t.Fatalf("answer id %q, want the frame's %q", got.ID, id)
				}
			case strings.HasPrefix(row.id, "none"):
				if got.ID != "" {
					t.Fatalf("answer id %q, want none", got.ID)
				}
			default:
				t.Fatalf("row %q: id cell %q is neither \"the frame's\" nor \"none…\"", tc.name, row.id)
			}
		})
	}
}

// serveAnswersCatalog serves the catalog endpoints the cases call: get_product answers,
// list_products hangs until its caller gives up, popular_products fails as a service that is
// down does.
func serveAnswersCatalog(t *testing.T, rt *bus.Runtime) {
	t.Helper()
	svc, err := rt.AddService(contracts.CatalogService)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(bus.Handle(svc, contracts.CatalogGetProduct, func(_ context.Context, r contracts.ProductRef) (contracts.Product, error) {
		return contracts.Product{ID: r.ID, Title: "Tea club"}, nil
	}))
	must(bus.Handle(svc, contracts.CatalogListProducts, func(ctx context.Context, _ contracts.ListProductsRequest) (contracts.ProductPage, error) {
		select {
		case <-ctx.Done():
		case <-done:
		}
		return contracts.ProductPage{}, contracts.ErrUnavailable.Msg("test: hung")
	}))
	must(bus.Handle(svc, contracts.CatalogPopularProducts, func(context.Context, contracts.PageRequest) (contracts.ProductPage, error) {
		return contracts.ProductPage{}, contracts.ErrUnavailable.Msg("test: down")
	}))
}
