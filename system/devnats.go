package system

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/moa-run/moa/contracts"
)

// devNATS is the authorization of an embedded server with NATSConfig.Authorize (`moa dev`):
// each service connects as its own user with the permissions production gives it, the
// process itself and the operator tools as the operator user. Without it any client of the
// dev server could read a user's mails (notify.v1.dev_mailbox) or forge pushes.
type devNATS struct {
	passwords map[string]string // by user
	users     []NATSUser
}

// operatorPasswordFile holds the dev operator password under the NATS store, kept across
// restarts so that a tool's URL stays valid; only its owner may read it.
const operatorPasswordFile = "operator.password"

func newDevNATS(natsDir string) (*devNATS, error) {
	d := &devNATS{passwords: map[string]string{}, users: devNATSUsers()}
	for _, u := range d.users {
		if u.Operator {
			pw, err := operatorPassword(natsDir)
			if err != nil {
				return nil, err
			}
			d.passwords[u.Name] = pw
			continue
		}
		// The services' passwords live only in this process: nothing else connects as them.
		d.passwords[u.Name] = randomPassword()
	}
	return d, nil
}

// serverUsers are the users the embedded server admits.
func (d *devNATS) serverUsers() []*server.User {
	var out []*server.User
	for _, u := range d.users {
		su := &server.User{Username: u.Name, Password: d.passwords[u.Name]}
		if !u.Operator {
			su.Permissions = &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: subjects(u.Publish)},
				Subscribe: &server.SubjectPermission{Allow: subjects(u.Subscribe)},
			}
			if u.Responses {
				su.Permissions.Response = &server.ResponsePermission{
					MaxMsgs: server.DEFAULT_ALLOW_RESPONSE_MAX_MSGS, Expires: server.DEFAULT_ALLOW_RESPONSE_EXPIRATION}
			}
		}
		out = append(out, su)
	}
	return out
}

func subjects(rules []NATSRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Subjects...)
	}
	return out
}

// devNATSUsers are NATSUsers with the edge also allowed the routes only `moa dev` turns on
// (notify.v1.dev_mailbox, see EdgeDevMailbox).
func devNATSUsers() []NATSUser {
	users := NATSUsers()
	for i, u := range users {
		if u.Name != "edge" {
			continue
		}
		var dev []string
		for _, d := range contracts.Endpoints() {
			if info := d.Info(); info.Access.ForApps() {
				dev = append(dev, info.Subject)
			}
		}
		users[i].Publish = dedupeRules(append([]NATSRule{{"the routes only moa dev turns on", dev}}, u.Publish...))
	}
	return users
}

// operatorPassword reads the dev operator password under natsDir, creating it on first use.
func operatorPassword(natsDir string) (string, error) {
	path := filepath.Join(natsDir, operatorPasswordFile)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("operator password: %w", err)
	}
	pw := randomPassword()
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("operator password: %w", err)
	}
	return pw, nil
}

// DevOperatorNATSPassword returns the password of the operator user of the `moa dev` whose
// data directory is dataDir (default DefaultDataDir), for the operator tools on the same
// machine; "" when that `moa dev` has not created one.
func DevOperatorNATSPassword(dataDir string) string {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "nats", operatorPasswordFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// withUser returns the nats:// URL u with user and password in it.
func withUser(u, user, password string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.User = url.UserPassword(user, password)
	return p.String()
}
