package docstore

import (
	"context"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startT(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// database starts a store and returns a database on it.
func database(t *testing.T) *mongo.Database {
	t.Helper()
	return client(t, startT(t, Config{}).URI()).Database("test")
}

func client(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c
}

func TestDataSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := ctxT(t)
	s1 := startT(t, Config{Dir: dir})
	c1 := client(t, s1.URI())
	if _, err := c1.Database("d").Collection("c").InsertOne(ctx, bson.D{{Key: "v", Value: 42}}); err != nil {
		t.Fatal(err)
	}
	c1.Disconnect(ctx)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The port is free again once Close returned.
	if c, err := net.DialTimeout("tcp", mustHost(t, s1.URI()), time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after Close")
	}

	s2 := startT(t, Config{Dir: dir})
	var doc struct{ V int }
	if err := client(t, s2.URI()).Database("d").Collection("c").FindOne(ctx, bson.D{}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.V != 42 {
		t.Fatalf("v = %d", doc.V)
	}
}

func TestFixedAddr(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := startT(t, Config{Addr: addr})
	if got := mustHost(t, s.URI()); got != addr {
		t.Fatalf("listening on %s, want %s", got, addr)
	}
}

func TestStartFailsOnBusyAddr(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if s, err := Start(ctxT(t), Config{Dir: t.TempDir(), Addr: l.Addr().String()}); err == nil {
		s.Close()
		t.Fatal("Start succeeded on a busy address")
	}
}

func mustHost(t *testing.T, uri string) string {
	t.Helper()
	hosts := options.Client().ApplyURI(uri).Hosts
	if len(hosts) != 1 {
		t.Fatalf("hosts in %s: %v", uri, hosts)
	}
	return hosts[0]
}
