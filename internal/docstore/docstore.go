package docstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The backends FerretDB stores documents in.
const (
	// BackendSQLite keeps one SQLite file per database under Config.Dir.
	BackendSQLite = "sqlite"
	// BackendPostgreSQL keeps one schema per database in the PostgreSQL
	// database Config.PostgreSQLURL names.
	BackendPostgreSQL = "postgresql"
)

// Backends lists the accepted values of Config.Backend.
var Backends = []string{BackendSQLite, BackendPostgreSQL}

// Config describes an embedded document store.
type Config struct {
	// Backend is BackendSQLite (the default when empty) or
	// BackendPostgreSQL.
	Backend string

	// Dir holds the SQLite files, one per database. Created if missing.
	// Required by the SQLite backend, unused by PostgreSQL.
	Dir string

	// PostgreSQLURL is the database the PostgreSQL backend stores
	// documents in (postgres://user@host:port/db); it must exist. FerretDB
	// creates one schema per MongoDB database in it. Required by that
	// backend, unused by SQLite.
	PostgreSQLURL string

	// Addr is the TCP address to listen on. Default "127.0.0.1:0" (a free
	// loopback port).
	Addr string

	// Logger for FerretDB. Nil logs warnings and errors to stderr only
	// (FerretDB logs every connection at info level), without FerretDB's
	// dumps of error responses the client receives anyway.
	Logger *slog.Logger

	// StartTimeout bounds the wait for the first successful ping when ctx
	// has no deadline. Default 30s.
	StartTimeout time.Duration

	// SyncFull makes SQLite fsync every commit (synchronous=FULL). By
	// default the store runs WAL with synchronous=NORMAL: a commit survives
	// a crash of the process but not a power loss, and writes no longer pay
	// one fsync each, which on this store is what limits throughput (a chat
	// benchmark over 100 rooms went from timing out at 200 msg/s to keeping
	// up). The embedded store is for development and tests; production runs
	// MongoDB.
	SyncFull bool

	// Unisolated leaves out the isolator that serialises updates of one
	// document (see isolate.go): clients talk to FerretDB directly. Only for
	// measuring what isolation costs; concurrent updates then lose writes.
	Unisolated bool

	noIDIndex bool // tests: leave out the _id indexes of idindex.go and pgidindex.go, to compare
}

// Store is a running embedded FerretDB.
type Store struct {
	uri     string
	iso     *isolator  // nil when Unisolated
	idx     *indexLoop // the _id indexer of the backend (idindex.go, pgidindex.go); nil without
	cancel  context.CancelFunc
	done    chan struct{}
	runErr  error
	closeMu sync.Once
}

// newMu serialises ferretdb.New: it writes process-global version
// information, which would race when tests start stores in parallel.
var newMu sync.Mutex

// Start starts FerretDB on cfg.Dir and returns once a MongoDB client can
// ping it.
func Start(ctx context.Context, cfg Config) (*Store, error) {
	fc := &ferretdb.Config{Handler: cfg.Backend}
	where := ""
	switch cfg.Backend {
	case "", BackendSQLite:
		if cfg.Dir == "" {
			return nil, errors.New("docstore: Config.Dir is required by the sqlite backend")
		}
		dir, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("docstore: dir: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("docstore: dir: %w", err)
		}
		// FerretDB wants a "file:" URI naming a directory, with a trailing
		// slash; building it as a URL escapes odd characters in the path.
		u := &url.URL{Scheme: "file", Path: dir + "/"}
		if !cfg.SyncFull {
			u.RawQuery = url.Values{"_pragma": {"synchronous(normal)"}}.Encode()
		}
		fc.Handler, fc.SQLiteURL, where = BackendSQLite, u.String(), dir
	case BackendPostgreSQL:
		if cfg.PostgreSQLURL == "" {
			return nil, errors.New("docstore: Config.PostgreSQLURL is required by the postgresql backend")
		}
		fc.PostgreSQLURL, where = cfg.PostgreSQLURL, redact(cfg.PostgreSQLURL)
	default:
		return nil, fmt.Errorf("docstore: unknown backend %q (want %s or %s)", cfg.Backend, BackendSQLite, BackendPostgreSQL)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = defaultLogger()
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}

	// Clients connect to the isolator on cfg.Addr, and it to FerretDB on a
	// loopback port of its own. Listening first also keeps ferretdb.New from
	// failing to bind, which leaks its SQLite backend, guarded by a finalizer
	// that panics and so crashes the process at the next GC.
	ferretAddr := "127.0.0.1:0"
	var ln net.Listener
	if cfg.Unisolated {
		ferretAddr = cfg.Addr
		if err := checkBindable(cfg.Addr); err != nil {
			return nil, fmt.Errorf("docstore: listen on %s: %w", cfg.Addr, err)
		}
	} else {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("docstore: listen on %s: %w", cfg.Addr, err)
		}
	}

	fc.Listener = ferretdb.ListenerConfig{TCP: ferretAddr}
	fc.Logger = cfg.Logger
	newMu.Lock()
	f, err := ferretdb.New(fc)
	newMu.Unlock()
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("docstore: start FerretDB (%s) in %s: %w", fc.Handler, where, err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s := &Store{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.runErr = f.Run(runCtx)
	}()

	// MongoDBURI blocks until the listener is up, so it must run after Run
	// started; asking from a goroutine keeps a broken start from hanging us.
	uriCh := make(chan string, 1)
	go func() { uriCh <- f.MongoDBURI() }()

	waitCtx, waitCancel := withDefaultTimeout(ctx, cfg.StartTimeout)
	defer waitCancel()
	select {
	case s.uri = <-uriCh:
	case <-s.done:
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("docstore: FerretDB stopped while starting: %v", s.runErr)
	case <-waitCtx.Done():
		if ln != nil {
			ln.Close()
		}
		s.Close()
		return nil, fmt.Errorf("docstore: FerretDB did not listen: %w", waitCtx.Err())
	}
	if ln != nil {
		hosts := options.Client().ApplyURI(s.uri).Hosts
		if len(hosts) != 1 {
			ln.Close()
			s.Close()
			return nil, fmt.Errorf("docstore: FerretDB's URI %s names %d hosts", s.uri, len(hosts))
		}
		s.iso = newIsolator(ln, hosts[0], statementSlots[fc.Handler])
		s.uri = (&url.URL{Scheme: "mongodb", Host: ln.Addr().String(), Path: "/"}).String()
	}
	if err := waitPing(waitCtx, s.uri); err != nil {
		s.Close()
		return nil, fmt.Errorf("docstore: FerretDB at %s: %w", s.uri, err)
	}
	if fc.Handler == BackendSQLite && !cfg.noIDIndex {
		s.idx = startIDIndexer(where, cfg.Logger)
	}
	if fc.Handler == BackendPostgreSQL && !cfg.noIDIndex {
		s.idx = startPGIDIndexer(cfg.PostgreSQLURL, cfg.Logger)
	}
	return s, nil
}

// URI is the mongodb:// URI clients connect to.
func (s *Store) URI() string { return s.uri }

// Close stops FerretDB and waits until its listener and SQLite files are
// closed. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeMu.Do(func() {
		s.idx.close()
		if s.iso != nil {
			s.iso.close()
		}
		s.cancel()
		<-s.done
	})
	return s.runErr
}

// waitPing polls until a client can ping uri.
func waitPing(ctx context.Context, uri string) error {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(time.Second))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err = client.Ping(ctx, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no ping answer: %w (last error: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// redact hides a password in a PostgreSQL URL for error messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

func checkBindable(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
