package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedConfig configures an in-process nats-server with JetStream (dev and tests).
type EmbeddedConfig struct {
	Host     string // default 127.0.0.1
	Port     int    // -1 picks a free port; 0 means the default 4222, so pass -1 or a port
	StoreDir string // JetStream store; required
	Name     string // server name (default "moa")
	// MaxPayload in bytes (0 = the server default, 1 MiB).
	MaxPayload int32
	// SyncAlways fsyncs every JetStream write before acking it: slower, but an acked event
	// survives a power loss. Critical deployments set sync_interval: always.
	SyncAlways bool
	// Cluster, when set, joins the server to a JetStream cluster.
	Cluster *ClusterConfig
	// Debug enables the server's own logging to stderr.
	Debug bool
	// Users, when set, are the only clients the server admits, each with its permissions
	// (`moa dev` gives every service its production user, see system.NATSUsers).
	Users []*server.User
}

// ClusterConfig is the routing part of an embedded cluster node.
type ClusterConfig struct {
	Name   string
	Host   string
	Port   int
	Routes []string // nats-route://host:port of every node, this one included
}

// StartEmbedded starts a nats-server in this process and waits until it accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("bus: embedded server needs a store dir")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Name == "" {
		cfg.Name = "moa"
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		SyncAlways: cfg.SyncAlways,
		NoSigs:     true,
		Users:      cfg.Users,
		// The server side of the same watch as Connect's: a client (or route peer) that stops
		// answering is dropped within ServerStaleAfter, so a frozen queue-group member stops
		// getting requests, instead of after nats-server's default of two pings two minutes apart.
		PingInterval: PingInterval,
		MaxPingsOut:  MaxPingsOutstanding,
	}
	if cfg.Cluster != nil {
		opts.Cluster = server.ClusterOpts{Name: cfg.Cluster.Name, Host: cfg.Cluster.Host, Port: cfg.Cluster.Port}
		for _, r := range cfg.Cluster.Routes {
			opts.Routes = append(opts.Routes, server.RoutesFromStr(r)...)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded nats-server: %w", err)
	}
	if cfg.Debug {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("bus: embedded nats-server on %s:%d did not become ready", cfg.Host, cfg.Port)
	}
	return s, nil
}

// ConnectConfig configures a connection to external NATS servers (the production shape).
type ConnectConfig struct {
	URLs     string // comma-separated
	Name     string // connection name, shown in server monitoring
	Creds    string // path to a .creds file (JWT + nkey seed)
	NKeySeed string // path to an nkey seed file
	User     string
	Password string
	Token    string
	TLSCert  string // client certificate (mutual TLS)
	TLSKey   string
	TLSCA    string // CA to verify the servers
	// InboxPrefix replaces "_INBOX" for this connection's reply subjects, so that the server's
	// permissions can give each service its own inbox space (_INBOX_<svc>.>) and no service can
	// read another's replies.
	InboxPrefix string
}

// A connection pings its server every PingInterval and gives it up, to reconnect to another,
// after MaxPingsOutstanding pings without an answer: within StaleConnectionAfter of the server
// freezing (SIGSTOP, a partition), where nats.go's default (every two minutes) would keep
// sending requests into it for minutes. A ping is a few bytes; a busy server answers it from
// its read loop, ahead of the messages it has yet to route.
const (
	PingInterval         = 2 * time.Second
	MaxPingsOutstanding  = 2
	StaleConnectionAfter = PingInterval * (MaxPingsOutstanding + 1)
	// ServerStaleAfter bounds how long an embedded server keeps a client that stopped
	// answering (see StartEmbedded): the same pings, from the other side.
	ServerStaleAfter = StaleConnectionAfter
)

// Connect opens a connection that reconnects forever, so a restarted server or a failover in a
// cluster only pauses the service, and leaves a frozen server within StaleConnectionAfter.
func Connect(cfg ConnectConfig) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.PingInterval(PingInterval),
		nats.MaxPingsOutstanding(MaxPingsOutstanding),
		nats.ReconnectBufSize(64 << 20),
		nats.RetryOnFailedConnect(false),
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	switch {
	case cfg.Creds != "":
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	case cfg.NKeySeed != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("bus: nkey seed: %w", err)
		}
		opts = append(opts, o)
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(cfg.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", cfg.URLs, err)
	}
	return nc, nil
}

func tlsConfig(cfg ConnectConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("bus: tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bus: tls ca %s: no certificates", cfg.TLSCA)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("bus: tls client cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
