package schemagen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen"
)

type lineItem struct {
	SKU  string `json:"sku"`
	Qty  int    `json:"qty"`
	Note string `json:"note,omitempty"`
}

type orderRequest struct {
	Customer string            `json:"customer"`
	Items    []lineItem        `json:"items"`
	Coupon   *string           `json:"coupon,omitempty"`
	Gift     bool              `json:"gift,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
	When     time.Time         `json:"when,omitzero"`
}

type orderReply struct {
	ID    string     `json:"id"`
	Lines []lineItem `json:"lines"`
}

type page[T any] struct {
	Items []T  `json:"items"`
	Next  *int `json:"next,omitempty"`
}

var (
	orderSvc = contracts.Service{Name: "schemaorder", Version: "1.2.3", Major: 1, Description: "schemagen tests"}
	orderEp  = contracts.Endpoint[orderRequest, orderReply]{Service: orderSvc, Name: "place", Timeout: 3 * time.Second,
		Description: "place an order"}
	listEp = contracts.Endpoint[contracts.Empty, page[orderReply]]{Service: orderSvc, Name: "list", Idempotent: true}
	nilEp  = contracts.Endpoint[contracts.Empty, []lineItem]{Service: orderSvc, Name: "lines"}
	evSeen = contracts.Event[lineItem]{Stream: contracts.StreamCatalog, Domain: "schemaorder", Name: "item_seen", Version: 3}
)

func generate(t *testing.T) (map[string][]byte, *jsonschema.Compiler) {
	t.Helper()
	files, err := schemagen.Generate(schemagen.Input{
		Endpoints: []contracts.EndpointInfo{orderEp.Info(), listEp.Info(), nilEp.Info()},
		Events:    []contracts.EventInfo{evSeen.Info()},
		Errors:    contracts.Catalogue(),
		Streams:   contracts.Streams(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	for name, b := range files {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource(schemagen.BaseID+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	return files, c
}

func parse(t *testing.T, s string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		t.Fatalf("sample %s: %v", s, err)
	}
	return v
}

// TestRequestSchemaAgreesWithTheRuntime sends each sample to a real handler through NATS and
// checks the request schema gives the same verdict as the runtime's decoder.
func TestRequestSchemaAgreesWithTheRuntime(t *testing.T) {
	_, c := generate(t)
	schema, err := c.Compile(schemagen.BaseID + "schemaorder.v1.place.json#/$defs/request")
	if err != nil {
		t.Fatal(err)
	}

	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	rt, err := bus.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background(), false) })
	svc, err := rt.AddService(orderSvc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Handle(svc, orderEp, func(ctx context.Context, r orderRequest) (orderReply, error) {
		return orderReply{ID: "o1", Lines: r.Items}, nil
	}); err != nil {
		t.Fatal(err)
	}

	for _, s := range []struct {
		body string
		ok   bool
		code string // the runtime's error code when !ok
	}{
		{`{"customer":"c","items":[]}`, true, ""},
		{`{"customer":"c","items":null}`, true, ""}, // what a Go client sends for a nil slice
		{`{"customer":"c","items":[{"sku":"a","qty":1}]}`, true, ""},
		{`{"customer":"c","items":[{"sku":"a","qty":1,"note":"n"}],"coupon":"X","gift":true,"meta":{"a":"b"},"when":"2026-01-02T03:04:05Z"}`, true, ""},
		{`{"customer":"c","items":[],"coupon":null}`, true, ""},
		{`{"items":[]}`, false, "validation_failed"},
		{`{"customer":"c"}`, false, "validation_failed"},
		{`{}`, false, "validation_failed"},
		{`{"customer":"c","items":[],"extra":1}`, false, "unknown_field"},
		{`{"customer":"c","items":[{"sku":"a","qty":1,"colour":"red"}]}`, false, "unknown_field"},
		{`{"customer":1,"items":[]}`, false, "validation_failed"},
		{`{"customer":"c","items":[{"sku":"a","qty":"one"}]}`, false, "validation_failed"},
		{`{"customer":"c","items":[],"meta":{"a":1}}`, false, "validation_failed"},
		{`{"customer":"c","items":{}}`, false, "validation_failed"},
		{`[]`, false, "bad_request"},
		{`"customer"`, false, "bad_request"},
	} {
		verr := schema.Validate(parse(t, s.body))
		if (verr == nil) != s.ok {
			t.Errorf("schema says valid=%v for %s, want %v: %v", verr == nil, s.body, s.ok, verr)
		}
		reply, err := nc.Request(orderEp.Subject(), []byte(s.body), 5*time.Second)
		if err != nil {
			t.Fatalf("request %s: %v", s.body, err)
		}
		code := reply.Header.Get(bus.HeaderErrorCode)
		if (code == "") != s.ok || code != s.code {
			t.Errorf("runtime answers %s with code %q, want %q", s.body, code, s.code)
		}
	}
}

func TestEndpointFileShape(t *testing.T) {
	files, c := generate(t)
	var doc struct {
		Schema string `json:"$schema"`
		ID     string `json:"$id"`
		Title  string `json:"title"`
		Moa    struct {
			Subject    string `json:"subject"`
			TimeoutMS  int64  `json:"timeout_ms"`
			Idempotent bool   `json:"idempotent"`
			Service    string `json:"service"`
			Version    string `json:"service_version"`
		} `json:"x-moa"`
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(files["schemaorder.v1.place.json"], &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" || doc.ID != schemagen.BaseID+"schemaorder.v1.place.json" ||
		doc.Title != "schemaorder.v1.place" || doc.Moa.Subject != "schemaorder.v1.place" || doc.Moa.TimeoutMS != 3000 ||
		doc.Moa.Idempotent || doc.Moa.Service != "schemaorder" || doc.Moa.Version != "1.2.3" {
		t.Fatalf("endpoint file: %+v", doc)
	}
	if _, ok := doc.Defs["request"]; !ok {
		t.Fatal("no $defs/request")
	}
	if _, ok := doc.Defs["response"]; !ok {
		t.Fatal("no $defs/response")
	}
	for _, want := range []string{"schemaorder.v1.place.json", "schemaorder.v1.list.json", "schemaorder.v1.lines.json",
		"evt.schemaorder.item_seen.json", "errors.json", "streams.json", "index.json"} {
		if _, ok := files[want]; !ok {
			t.Errorf("no %s among %d files", want, len(files))
		}
	}
	if len(files) != 7 {
		t.Errorf("%d files, want 7", len(files))
	}

	// The reply schema is open (clients must tolerate added fields) and allows the nulls Go
	// writes for nil slices and pointers; generic types get readable names.
	list, err := c.Compile(schemagen.BaseID + "schemaorder.v1.list.json#/$defs/response")
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{`{"items":null}`, `{"items":[{"id":"a","lines":null,"new":1}],"next":4}`} {
		if err := list.Validate(parse(t, ok)); err != nil {
			t.Errorf("reply %s rejected: %v", ok, err)
		}
	}
	if list.Validate(parse(t, `{"items":[{"id":"a"}]}`)) == nil {
		t.Error("a reply missing a required nested field is accepted")
	}
	if !bytes.Contains(files["schemaorder.v1.list.json"], []byte(`"page_orderReply"`)) {
		t.Errorf("generic type not named page_orderReply:\n%s", files["schemaorder.v1.list.json"])
	}
	lines, err := c.Compile(schemagen.BaseID + "schemaorder.v1.lines.json#/$defs/response")
	if err != nil {
		t.Fatal(err)
	}
	if err := lines.Validate(parse(t, `null`)); err != nil {
		t.Errorf("a nil slice reply is rejected: %v", err)
	}
}

func TestEventFileValidatesEnvelopes(t *testing.T) {
	_, c := generate(t)
	s, err := c.Compile(schemagen.BaseID + "evt.schemaorder.item_seen.json")
	if err != nil {
		t.Fatal(err)
	}
	env, subject, err := bus.NewEnvelope(context.Background(), nil, "shop", evSeen, "k1", lineItem{SKU: "a", Qty: 2})
	if err != nil {
		t.Fatal(err)
	}
	if schemagen.EventFile(evSeen.Info()) != strings.TrimSuffix(subject, ".k1")+".json" {
		t.Fatalf("event file %s does not follow the subject %s", schemagen.EventFile(evSeen.Info()), subject)
	}
	b, _ := json.Marshal(env)
	if err := s.Validate(parse(t, string(b))); err != nil {
		t.Fatalf("an envelope from bus.NewEnvelope is rejected: %v", err)
	}
	for name, mutate := range map[string]func(m map[string]any){
		"wrong version": func(m map[string]any) { m["schema_version"] = 2 },
		"no id":         func(m map[string]any) { delete(m, "id") },
		"no data":       func(m map[string]any) { delete(m, "data") },
		"bad data":      func(m map[string]any) { m["data"] = map[string]any{"sku": 1, "qty": 2} },
		"data missing":  func(m map[string]any) { m["data"] = map[string]any{"sku": "a"} },
		"key with gt":   func(m map[string]any) { m["key"] = "a>b" },
		"key with nul":  func(m map[string]any) { m["key"] = "a\x00b" },
		"bad time":      func(m map[string]any) { m["occurred_at"] = 12 },
	} {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mutate(m)
		mb, _ := json.Marshal(m)
		if s.Validate(parse(t, string(mb))) == nil {
			t.Errorf("%s: envelope %s accepted", name, mb)
		}
	}
}

func TestHeaderNamesMatchTheRuntime(t *testing.T) {
	for got, want := range map[string]string{
		schemagen.HeaderTimeout:       bus.HeaderTimeout,
		schemagen.HeaderAuthorization: bus.HeaderAuthorization,
		schemagen.HeaderErrorCode:     bus.HeaderErrorCode,
		schemagen.HeaderError:         bus.HeaderError,
		schemagen.HeaderDegraded:      bus.HeaderDegraded,
		schemagen.HeaderEventType:     bus.HeaderEventType,
		schemagen.HeaderMsgID:         "Nats-Msg-Id",
	} {
		if got != want {
			t.Errorf("schemagen documents header %q, the runtime uses %q", got, want)
		}
	}
}

func TestWriteAndDiff(t *testing.T) {
	files, _ := generate(t)
	dir := t.TempDir()
	if diffs, err := schemagen.Diff(filepath.Join(dir, "absent"), files); err != nil || len(diffs) != len(files) {
		t.Fatalf("Diff of a missing directory: %v, %v", diffs, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "removed_endpoint.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := schemagen.Write(dir, files); err != nil {
		t.Fatal(err)
	}
	if diffs, err := schemagen.Diff(dir, files); err != nil || len(diffs) != 0 {
		t.Fatalf("after Write, Diff = %v, %v", diffs, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "removed_endpoint.json")); !os.IsNotExist(err) {
		t.Fatal("Write left a file no declaration generates")
	}
	if err := os.WriteFile(filepath.Join(dir, "errors.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	diffs, err := schemagen.Diff(dir, files)
	if err != nil || len(diffs) != 1 || !strings.HasPrefix(diffs[0], "stale errors.json") {
		t.Fatalf("Diff after editing errors.json = %v, %v", diffs, err)
	}
	// Generation is deterministic: the same input gives the same bytes.
	again, _ := generate(t)
	for name, b := range files {
		if !bytes.Equal(b, again[name]) {
			t.Fatalf("%s differs between two runs", name)
		}
	}
}
