package edge

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/moa-run/moa/bus"
)

// The edge's settings (MOA_EDGE_<KEY>), read only through these declarations.
var (
	SettingAllowedOrigins = bus.StringSetting("ALLOWED_ORIGINS", "",
		"comma-separated web origins (`https://shop.example.com`) whose pages may connect; the edge's own origin always may").
		WithPassThrough()
	SettingMaxFrameBytes = bus.IntSetting("MAX_FRAME_BYTES", DefaultMaxFrameBytes, 1, math.MaxInt,
		"largest client frame, also after decompression")
	SettingAuthTimeout = bus.DurationSetting("AUTH_TIMEOUT", DefaultAuthTimeout, time.Nanosecond,
		"time a new connection has to authenticate")
	SettingSendQueue = bus.IntSetting("SEND_QUEUE", DefaultSendQueue, 1, math.MaxInt,
		"frames queued per connection before it is closed as a slow consumer")
	SettingWriteTimeout = bus.DurationSetting("WRITE_TIMEOUT", DefaultWriteTimeout, time.Nanosecond,
		"deadline of one write to a client")
	SettingRatePerSec = bus.FloatSetting("RATE_PER_SEC", DefaultRatePerSec, 0.01, math.Inf(1),
		"client frames per second per connection")
	SettingBurst = bus.IntSetting("BURST", DefaultBurst, 1, math.MaxInt,
		"burst of client frames per connection")
	SettingMaxConnsPerUser = bus.IntSetting("MAX_CONNS_PER_USER", DefaultMaxConnsPerUser, 1, math.MaxInt,
		"connections of one user on one edge instance")
	SettingPingInterval = bus.DurationSetting("PING_INTERVAL", DefaultPingInterval, time.Nanosecond,
		"WebSocket ping interval")
	SettingCompression = bus.BoolSetting("COMPRESSION", false,
		"`true` to negotiate permessage-deflate")
	SettingMailboxURL = bus.StringSetting("MAILBOX_URL", "",
		"development mailbox linked from the demo page")
	SettingDevMailbox = bus.BoolSetting("DEV_MAILBOX", false,
		"`true` lets signed-in users read their own mail in `notify.dev_mailbox`: development only")
	SettingSessionCookiePath = bus.StringSetting("SESSION_COOKIE_PATH", "",
		"Path of the session cookie, as the browser sees the session/ endpoints (`/shop/session`), when a proxy rewrites the path prefix (unset: taken from the request)")
	SettingInstanceID = bus.StringSetting("INSTANCE_ID", "",
		"this instance's name in presence records and metrics (unset: random)")
)

// Settings lists every setting the edge reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingAllowedOrigins, SettingMaxFrameBytes, SettingAuthTimeout, SettingSendQueue,
	SettingWriteTimeout, SettingRatePerSec, SettingBurst, SettingMaxConnsPerUser, SettingPingInterval,
	SettingCompression, SettingMailboxURL, SettingDevMailbox, SettingSessionCookiePath, SettingInstanceID}

// ConfigFromEnv builds a Config from the edge's settings; unset ones take their defaults. A
// value that does not parse is an error naming the setting.
func ConfigFromEnv(env bus.Env) (c Config, err error) {
	origins, err := env.String(SettingAllowedOrigins)
	if err != nil {
		return c, err
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
				return c, fmt.Errorf("edge: ALLOWED_ORIGINS: %q is not an http(s) origin", o)
			}
			c.AllowedOrigins = append(c.AllowedOrigins, o)
		}
	}
	for _, i := range []struct {
		s   bus.Setting
		dst *int
	}{{SettingMaxFrameBytes, &c.MaxFrameBytes}, {SettingSendQueue, &c.SendQueue}, {SettingBurst, &c.Burst},
		{SettingMaxConnsPerUser, &c.MaxConnsPerUser}} {
		if *i.dst, err = env.Int(i.s); err != nil {
			return c, err
		}
	}
	for _, d := range []struct {
		s   bus.Setting
		dst *time.Duration
	}{{SettingAuthTimeout, &c.AuthTimeout}, {SettingWriteTimeout, &c.WriteTimeout}, {SettingPingInterval, &c.PingInterval}} {
		if *d.dst, err = env.Duration(d.s); err != nil {
			return c, err
		}
	}
	if c.RatePerSec, err = env.Float(SettingRatePerSec); err != nil {
		return c, err
	}
	for _, b := range []struct {
		s   bus.Setting
		dst *bool
	}{{SettingCompression, &c.Compression}, {SettingDevMailbox, &c.DevMailbox}} {
		if *b.dst, err = env.Bool(b.s); err != nil {
			return c, err
		}
	}
	if c.MailboxURL, err = env.String(SettingMailboxURL); err != nil {
		return c, err
	}
	if c.SessionCookiePath, err = env.String(SettingSessionCookiePath); err != nil {
		return c, err
	}
	if p := c.SessionCookiePath; p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, ";, \t")) {
		return c, fmt.Errorf("edge: SESSION_COOKIE_PATH: %q is not a path starting with /", p)
	}
	c.InstanceID, err = env.String(SettingInstanceID)
	return c, err
}
