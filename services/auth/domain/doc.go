// Package domain holds the auth service's rules with no I/O: accounts, password hashing
// (argon2id), refresh-token sessions and their reuse detection, the login throttle and the
// lifetime of signing keys. It names no wire type: ports map accounts and sessions to the
// contracts' DTOs.
package domain
