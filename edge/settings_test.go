package edge

import (
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
)

func TestConfigFromSettings(t *testing.T) {
	env := map[string]string{"ALLOWED_ORIGINS": "https://a.example, http://localhost:3000", "AUTH_TIMEOUT": "5s",
		"MAX_CONNS_PER_USER": "3", "COMPRESSION": "true", "RATE_PER_SEC": "2.5",
		"SESSION_COOKIE_PATH": "/shop/session"}
	c, err := ConfigFromEnv(bus.Env{Setting: func(k string) string { return env[k] }, Declared: Settings})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AllowedOrigins) != 2 || c.AllowedOrigins[1] != "http://localhost:3000" || c.AuthTimeout != 5*time.Second ||
		c.MaxConnsPerUser != 3 || !c.Compression || c.RatePerSec != 2.5 || c.MaxFrameBytes != DefaultMaxFrameBytes ||
		c.SessionCookiePath != "/shop/session" {
		t.Fatalf("%+v", c)
	}
	for k, v := range map[string]string{"ALLOWED_ORIGINS": "*", "AUTH_TIMEOUT": "soon", "SEND_QUEUE": "-1", "COMPRESSION": "maybe",
		"SESSION_COOKIE_PATH": "shop/session"} {
		if _, err := ConfigFromEnv(bus.Env{Setting: func(key string) string {
			if key == k {
				return v
			}
			return ""
		}, Declared: Settings}); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
	}
}
