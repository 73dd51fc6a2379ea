package notify

import (
	"math"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/services/notify/adapters"
)

// SMTPAddrEnv is the environment variable of SettingSMTPAddr, as an operator sets it: the
// warning about a missing SMTP server names it (system.SettingEnv builds the same name;
// settings_env_test.go holds the two equal).
const SMTPAddrEnv = "MOA_NOTIFY_SMTP_ADDR"

// Notify's settings (MOA_NOTIFY_<KEY>), read only through these declarations.
var (
	SettingSMTPAddr = bus.StringSetting("SMTP_ADDR", "",
		"SMTP server `host:port` for mails; unset, mails go to the dev mailbox (`notify.v1.dev_mailbox`) and reach no one").
		WithPassThrough()
	SettingSMTPFrom     = bus.StringSetting("SMTP_FROM", adapters.DefaultSMTPFrom, "From address of the mails").WithPassThrough()
	SettingSMTPUser     = bus.StringSetting("SMTP_USER", "", "SMTP user name (with `MOA_NOTIFY_SMTP_PASSWORD`; unset: no authentication)").WithPassThrough()
	SettingSMTPPassword = bus.SecretSetting("SMTP_PASSWORD", 0, "SMTP password").WithPassThrough()
	SettingSMTPTLS      = bus.StringSetting("SMTP_TLS", "",
		"how the SMTP connection is secured, `tls` being implicit TLS; unset: `none` for a loopback server, else `starttls`").
		WithOneOf("none", "starttls", "tls").WithPassThrough()
	SettingKeep = bus.IntSetting("KEEP", DefaultKeep, 1, math.MaxInt,
		"notifications kept per user; older ones are deleted")
	SettingRetention = bus.DurationSetting("RETENTION", DefaultRetention, time.Nanosecond,
		"longest a notification is kept")
	// SettingConsumerConcurrency was CONCURRENCY, still read (deprecated).
	SettingConsumerConcurrency = bus.IntSetting("CONSUMER_CONCURRENCY", DefaultConcurrency, 1, math.MaxInt,
		"events handled in parallel per consumer").WithAliases("CONCURRENCY")
)

// Settings lists every setting notify reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingSMTPAddr, SettingSMTPFrom, SettingSMTPUser, SettingSMTPPassword, SettingSMTPTLS,
	SettingKeep, SettingRetention, SettingConsumerConcurrency}

// readSMTP reads the SMTP settings; Addr "" means no SMTP server (the dev mailbox).
func readSMTP(env bus.Env) (adapters.SMTPConfig, error) {
	var c adapters.SMTPConfig
	for _, r := range []struct {
		s   bus.Setting
		dst *string
	}{{SettingSMTPAddr, &c.Addr}, {SettingSMTPFrom, &c.From}, {SettingSMTPUser, &c.User},
		{SettingSMTPPassword, &c.Password}, {SettingSMTPTLS, &c.TLS}} {
		v, err := env.String(r.s)
		if err != nil {
			return c, err
		}
		*r.dst = v
	}
	return c, nil
}
