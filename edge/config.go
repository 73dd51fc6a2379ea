package edge

import (
	"crypto/rand"

	"encoding/hex"
	"github.com/moa-run/moa/contracts"
	"log/slog"
	"time"
)

// Defaults of Config. They are sized for a browser or mobile client talking to people: a frame
// is a chat message or a call, not a file upload.
const (
	DefaultMaxFrameBytes   = 64 << 10
	DefaultAuthTimeout     = 10 * time.Second
	DefaultSendQueue       = 256
	DefaultWriteTimeout    = 10 * time.Second
	DefaultRatePerSec      = 20
	DefaultBurst           = 40
	DefaultMaxConnsPerUser = 8
	DefaultPingInterval    = 25 * time.Second
	DefaultPongTimeout     = 15 * time.Second
	DefaultExpiryWarning   = time.Minute
	DefaultMaxInflight     = 16
	DefaultCallTimeout     = 15 * time.Second
	DefaultPresenceTTL     = 30 * time.Second
	DefaultTypingInterval  = time.Second
)

// Config configures a Gateway. The zero value of every field means its default; the
// allowlist of origins has no default that accepts everything.
type Config struct {
	// AllowedOrigins are the web origins ("https://shop.example.com", scheme://host[:port],
	// compared case-insensitively) whose pages may open a WebSocket. The edge's own origin (the
	// demo page) is always allowed; a request without an Origin header is not from a browser
	// and is allowed, because the cross-site attack the check prevents needs a browser.
	AllowedOrigins []string
	// MaxFrameBytes bounds one client frame, and with compression its decompressed size.
	MaxFrameBytes int
	// AuthTimeout is how long a new connection has to send its auth frame.
	AuthTimeout time.Duration
	// SendQueue bounds the frames waiting to be written to one connection; a connection whose
	// queue overflows is closed with CloseSlowConsumer, so it never holds up anyone else.
	SendQueue int
	// WriteTimeout bounds one write to a connection.
	WriteTimeout time.Duration
	// RatePerSec and Burst are each connection's token bucket for client frames.
	RatePerSec float64
	Burst      int
	// MaxStrikes is how many frames in a row may be refused for the rate before the
	// connection is closed with CloseRateLimited (default Burst).
	MaxStrikes int
	// MaxConnsPerUser caps one user's connections on this edge instance.
	MaxConnsPerUser int
	// PingInterval is how often the edge pings each connection; a connection that sends
	// nothing (not even a pong) for PingInterval+PongTimeout is closed.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// ExpiryWarning is how long before the access token expires the client gets an
	// "expiring" frame.
	ExpiryWarning time.Duration
	// MaxInflight bounds the calls one connection has in flight.
	MaxInflight int
	// CallTimeout caps the deadline of a mediated call (the endpoint's own timeout applies
	// when shorter).
	CallTimeout time.Duration
	// Compression negotiates permessage-deflate. Compressed client frames are held to
	// MaxFrameBytes after decompression.
	Compression bool
	// PresenceTTL is how long an instance's claim that a user is online holds without renewal;
	// it bounds how long a crashed instance leaves its users shown online.
	PresenceTTL time.Duration
	// TypingInterval is the least time between two typing signals of one connection in one
	// room that are passed on; more frequent ones are dropped.
	TypingInterval time.Duration
	// Routes is the allowlist of callable methods (default DefaultRoutes()).
	Routes []Route
	// SessionCookiePath is the Path of the session cookie: the path, as the browser sees it,
	// of the session/ endpoints ("/shop/session"). Unset, it is taken from the request, which
	// is right unless a proxy rewrites the path prefix on the way (see sessionCookie).
	SessionCookiePath string
	// InstanceID names this instance in presence records (default random).
	InstanceID string
	// MailboxURL, when set, is linked from the demo page as the development mailbox.
	MailboxURL string
	// DevMailbox routes notify.dev_mailbox to signed-in users, for the demo page (notify shows
	// each user only their own mail): development only (moa dev).
	DevMailbox bool
	// Ops turns on the operations page's API for operators (ops.go; development: moa dev).
	Ops *Ops
	// Logger (default the runtime's).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxFrameBytes, DefaultMaxFrameBytes)
	defd(&c.AuthTimeout, DefaultAuthTimeout)
	def(&c.SendQueue, DefaultSendQueue)
	defd(&c.WriteTimeout, DefaultWriteTimeout)
	if c.RatePerSec <= 0 {
		c.RatePerSec = DefaultRatePerSec
	}
	def(&c.Burst, DefaultBurst)
	def(&c.MaxStrikes, c.Burst)
	def(&c.MaxConnsPerUser, DefaultMaxConnsPerUser)
	defd(&c.PingInterval, DefaultPingInterval)
	defd(&c.PongTimeout, DefaultPongTimeout)
	defd(&c.ExpiryWarning, DefaultExpiryWarning)
	def(&c.MaxInflight, DefaultMaxInflight)
	defd(&c.CallTimeout, DefaultCallTimeout)
	defd(&c.PresenceTTL, DefaultPresenceTTL)
	defd(&c.TypingInterval, DefaultTypingInterval)
	if c.Routes == nil {
		c.Routes = routesFor(contracts.Endpoints(), c.DevMailbox)
	}
	if c.InstanceID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.InstanceID = "edge-" + hex.EncodeToString(b[:])
	}
}
