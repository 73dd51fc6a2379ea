package edge

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Setting documents one key read by ConfigFromSettings (MOA_EDGE_<KEY> in the environment
// when the host uses bus.Env-style settings).
type Setting struct {
	Key   string
	Usage string
}

// Settings lists the keys ConfigFromSettings reads, for `moa help`.
var Settings = []Setting{
	{"ALLOWED_ORIGINS", "comma-separated web origins (https://shop.example.com) whose pages may connect; the edge's own origin always may"},
	{"MAX_FRAME_BYTES", "largest client frame, also after decompression (default 65536)"},
	{"AUTH_TIMEOUT", "time a new connection has to authenticate, a Go duration (default 10s)"},
	{"SEND_QUEUE", "frames queued per connection before it is closed as a slow consumer (default 256)"},
	{"WRITE_TIMEOUT", "deadline of one write to a client (default 10s)"},
	{"RATE_PER_SEC", "client frames per second per connection (default 20)"},
	{"BURST", "burst of client frames per connection (default 40)"},
	{"MAX_CONNS_PER_USER", "connections of one user on one edge instance (default 8)"},
	{"PING_INTERVAL", "WebSocket ping interval (default 25s)"},
	{"COMPRESSION", "true to negotiate permessage-deflate (default false)"},
	{"MAILBOX_URL", "development mailbox linked from the demo page"},
	{"DEV_MAILBOX", "true to let signed-in users read their own mail in notify.dev_mailbox: development only"},
	{"INSTANCE_ID", "this instance's name in presence records and metrics (default random)"},
}

// ConfigFromSettings builds a Config from settings; unset keys keep their defaults. A value
// that does not parse is an error naming the key.
func ConfigFromSettings(setting func(key string) string) (Config, error) {
	var c Config
	get := func(k string) string { return strings.TrimSpace(setting(k)) }
	if v := get("ALLOWED_ORIGINS"); v != "" {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
					return c, fmt.Errorf("edge: ALLOWED_ORIGINS: %q is not an http(s) origin", o)
				}
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	ints := []struct {
		key string
		dst *int
	}{{"MAX_FRAME_BYTES", &c.MaxFrameBytes}, {"SEND_QUEUE", &c.SendQueue}, {"BURST", &c.Burst},
		{"MAX_CONNS_PER_USER", &c.MaxConnsPerUser}}
	for _, i := range ints {
		if v := get(i.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return c, fmt.Errorf("edge: %s: %q is not a positive integer", i.key, v)
			}
			*i.dst = n
		}
	}
	durs := []struct {
		key string
		dst *time.Duration
	}{{"AUTH_TIMEOUT", &c.AuthTimeout}, {"WRITE_TIMEOUT", &c.WriteTimeout}, {"PING_INTERVAL", &c.PingInterval}}
	for _, d := range durs {
		if v := get(d.key); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x <= 0 {
				return c, fmt.Errorf("edge: %s: %q is not a positive duration", d.key, v)
			}
			*d.dst = x
		}
	}
	if v := get("RATE_PER_SEC"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			return c, fmt.Errorf("edge: RATE_PER_SEC: %q is not a positive number", v)
		}
		c.RatePerSec = r
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"COMPRESSION", &c.Compression}, {"DEV_MAILBOX", &c.DevMailbox}} {
		if v := get(b.key); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return c, fmt.Errorf("edge: %s: %q is not a boolean", b.key, v)
			}
			*b.dst = x
		}
	}
	c.MailboxURL = get("MAILBOX_URL")
	c.InstanceID = get("INSTANCE_ID")
	return c, nil
}
