package auth

import (
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
)

// OperatorSecretMinLen is the least length of OPERATOR_SECRET.
const OperatorSecretMinLen = 16

// Auth's settings (MOA_AUTH_<KEY>), read only through these declarations.
var (
	SettingKeyEncryptionKey = bus.SecretSetting("KEY_ENCRYPTION_KEY", 0,
		"base64 of 32 bytes that seals the token signing keys at rest (AES-256-GCM); unset, they are stored unencrypted and a warning is logged").
		WithPassThrough()
	SettingAccessTokenTTL = bus.DurationSetting("ACCESS_TOKEN_TTL", contracts.AccessTokenTTL, time.Nanosecond,
		"access-token lifetime")
	SettingRefreshTokenTTL = bus.DurationSetting("REFRESH_TOKEN_TTL", contracts.RefreshTokenTTL, time.Nanosecond,
		"refresh-token lifetime")
	SettingOperatorSecret = bus.SecretSetting("OPERATOR_SECRET", OperatorSecretMinLen,
		"exchanged for short-lived operator tokens (`auth.v1.operator_token`) that the operator endpoints, `moa sagas`, `moa projections` and the whole dev mailbox require; unset, none are issued")
)

// Settings lists every setting auth reads, for `moa help` and the README.
var Settings = []bus.Setting{SettingKeyEncryptionKey, SettingAccessTokenTTL, SettingRefreshTokenTTL, SettingOperatorSecret}
