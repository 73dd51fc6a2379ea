package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/internal/docstore"
	"github.com/moa-run/moa/services/chat"
)

// ready is the line a child process prints on stdout once it serves.
type ready struct {
	NATS  string `json:"nats,omitempty"`
	WS    string `json:"ws,omitempty"`
	Admin string `json:"admin,omitempty"`
}

func announce(r ready) {
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func waitSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	// The parent closing our stdin also means stop, so no child outlives a crashed parent.
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); ch <- syscall.SIGTERM }()
	<-ch
}

// runNATS serves an embedded NATS server with JetStream until told to stop.
func runNATS(args []string) error {
	fs := flag.NewFlagSet("nats", flag.ExitOnError)
	dir := fs.String("dir", "", "JetStream store directory (default: a temporary one)")
	_ = fs.Parse(args)
	if *dir == "" {
		d, err := os.MkdirTemp("", "edgeload-nats-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	s, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: *dir})
	if err != nil {
		return err
	}
	defer s.Shutdown()
	announce(ready{NATS: s.ClientURL()})
	waitSignal()
	return nil
}

// runServer runs one edge on the given NATS: a key issuer stands in for the auth service (the
// load client mints tokens with its key), and with -chat the real chat service runs beside it,
// with a stand-in catalog answering get_product.
func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	natsURL := fs.String("nats", "", "NATS URL")
	withChat := fs.Bool("chat", false, "run the chat service (MongoDB: -mongo, or an embedded FerretDB)")
	stubChat := fs.Bool("stub-chat", false, "serve chat.open_room and chat.send from memory instead (no store)")
	mongoURL := fs.String("mongo", "", "MongoDB URL for the chat service (default: embedded FerretDB)")
	storeDir := fs.String("store-dir", "", "directory for the embedded FerretDB (default: a temporary one, removed at exit)")
	_ = fs.Parse(args)
	if os.Getenv("EDGELOAD_MEMPROFILE") != "" {
		runtime.MemProfileRate = 64 // precise heap profiles while profiling memory
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()

	nc, err := bus.Connect(bus.ConnectConfig{URLs: *natsURL, Name: "edgeload-server"})
	if err != nil {
		return err
	}
	defer nc.Close()
	rt, err := bus.New(nc, bus.WithLogger(log))
	if err != nil {
		return err
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	kid := authn.Thumbprint(pub)
	authSvc, err := rt.AddService(contracts.AuthService)
	if err != nil {
		return err
	}
	keys := contracts.KeySet{Keys: []contracts.JWK{authn.PublicJWK(kid, pub)}}
	if err := bus.Handle(authSvc, contracts.AuthKeys, func(context.Context, contracts.Empty) (contracts.KeySet, error) {
		return keys, nil
	}); err != nil {
		return err
	}

	if *stubChat {
		if err := startStubChat(rt); err != nil {
			return err
		}
	} else if *withChat {
		stop, err := startChat(ctx, rt, log, *mongoURL, *storeDir)
		if err != nil {
			return err
		}
		defer stop()
	}

	// Limits sized for load generation: many frames per connection, a deep queue.
	gw := edge.New(rt, edge.Config{Logger: log, RatePerSec: 1000, Burst: 2000, SendQueue: 1024})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", gw.Handler())
	mux.HandleFunc("GET /bench/key", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"kid": kid, "seed": base64.StdEncoding.EncodeToString(key.Seed())})
	})
	mux.HandleFunc("GET /bench/mem", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(measureMem(gw))
	})
	mux.HandleFunc("GET /bench/cpu", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(cpuTime()) // no forced GC: the fan-out's CPU per push
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	base := "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	announce(ready{WS: "ws://" + base + "/ws", Admin: "http://" + base})
	if os.Getenv("EDGELOAD_HOLD") != "" {
		fmt.Fprintln(os.Stderr, "edgeload server: admin at http://"+base)
	}
	waitSignal()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_ = gw.Shutdown(sctx)
	return rt.Close(sctx, false)
}

// startChat runs the chat service with a stand-in catalog whose products belong to the seller
// sellerOf(product id), a rule the load client shares.
//
// The embedded store lives in dir; when dir is "" it is a temporary directory removed when the
// chat stops (the bench passes a directory of its own, which it removes even if this process
// had to be killed).
func startChat(ctx context.Context, rt *bus.Runtime, log *slog.Logger, mongoURL, dir string) (func(), error) {
	var store *docstore.Store
	temp := false
	if mongoURL == "" {
		var err error
		if dir == "" {
			if dir, err = os.MkdirTemp("", "edgeload-mongo-"); err != nil {
				return nil, err
			}
			temp = true
		}
		if store, err = docstore.Start(ctx, docstore.Config{Dir: dir}); err != nil {
			if temp {
				_ = os.RemoveAll(dir)
			}
			return nil, err
		}
		mongoURL = store.URI()
	}
	// cleanup closes the store and removes a temporary directory: each run starts empty.
	cleanup := func() {
		if store != nil {
			_ = store.Close()
		}
		if temp {
			_ = os.RemoveAll(dir)
		}
	}
	cat, err := rt.AddService(contracts.CatalogService)
	if err != nil {
		cleanup()
		return nil, err
	}
	if err := bus.Handle(cat, contracts.CatalogGetProduct, func(_ context.Context, r contracts.ProductRef) (contracts.Product, error) {
		return contracts.Product{ID: r.ID, SellerID: sellerOf(r.ID), Title: "Bench product " + r.ID[:8]}, nil
	}); err != nil {
		cleanup()
		return nil, err
	}
	comp, err := chat.Start(ctx, bus.Env{Runtime: rt, Logger: log, MongoURL: mongoURL, MongoDatabase: "edgeload_chat",
		Setting: chatSetting})
	if err != nil {
		cleanup()
		return nil, err
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = comp.Stop(sctx)
		cleanup()
	}, nil
}

// chatSetting passes the chat's MOA_CHAT_* settings from this process's environment (e.g.
// MOA_CHAT_WRITERS), so a bench run can try them.
func chatSetting(key string) string { return os.Getenv("MOA_CHAT_" + key) }

// sellerOf is the stand-in catalog's seller of a product.
func sellerOf(productID string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("seller:"+productID)).String()
}

// memReport is what /bench/mem answers, after a forced GC.
type memReport struct {
	RSS        uint64 `json:"rss"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Goroutines int    `json:"goroutines"`
	Conns      int    `json:"conns"`
	CPU        int64  `json:"cpu_ns"` // user+system CPU time of the process so far
}

func measureMem(gw *edge.Gateway) memReport {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memReport{RSS: rss(), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse,
		Goroutines: runtime.NumGoroutine(), Conns: gw.Connections(), CPU: cpuTime()}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// rss reads the resident set size from /proc (Linux).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
