package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/system"
)

// tool is an operator command run over a NATS connection: `moa dlq` (bus/dlq), `moa sagas`
// and `moa projections` (the subscription service's).
type tool func(ctx context.Context, nc *nats.Conn, args []string, stdout io.Writer) error

// runTool runs an operator command against the NATS of a `moa dev` on its default address
// unless MOA_NATS_URL (or --nats-url) says otherwise. The connection flags of the settings
// table are taken out of args; everything else is the tool's.
func runTool(ctx context.Context, cmd, usage string, run tool, args []string, stdout io.Writer, getenv func(string) string) error {
	ours, theirs := splitSettingFlags(cmd, args)
	if len(theirs) == 0 || theirs[0] == "help" || theirs[0] == "-h" || theirs[0] == "--help" {
		_, err := io.WriteString(stdout, usage)
		return err
	}
	o, _, err := parse(cmd, ours, getenv)
	if err != nil {
		return err
	}
	nc, err := toolConn(cmd, o)
	if err != nil {
		return err
	}
	defer nc.Close()
	if slices.Contains(operatorTools, cmd) {
		if ctx, err = operatorContext(ctx, nc, o.OperatorSecret); err != nil {
			return err
		}
	}
	err = run(ctx, nc, theirs, stdout)
	if errors.Is(err, contracts.ErrValidation) {
		return usageError{msg: err.Error()}
	}
	return err
}

// splitSettingFlags separates the flags of the settings table that apply to cmd (with their
// values) from the other arguments.
func splitSettingFlags(cmd string, args []string) (ours, theirs []string) {
	known := map[string]setting{}
	for _, s := range settings {
		if s.appliesTo(cmd) {
			known[s.Flag] = s
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			theirs = append(theirs, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		s, ok := known[name]
		if !strings.HasPrefix(a, "-") || !ok {
			theirs = append(theirs, a)
			continue
		}
		ours = append(ours, a)
		if !hasValue && s.Arg != "" && i+1 < len(args) {
			i++
			ours = append(ours, args[i])
		}
	}
	return ours, theirs
}

func toolConn(cmd string, o *Options) (*nats.Conn, error) {
	n := o.System.NATS
	url := n.URL
	if url == "" {
		url = "nats://" + system.DefaultNATSAddr
		// A `moa dev` on its default address and data directory admits the operator user,
		// whose password it keeps there.
		if pw := system.DevOperatorNATSPassword(""); n.User == "" && n.Creds == "" && n.NKey == "" && n.Token == "" && pw != "" {
			n.User, n.Password = system.OperatorNATSUser, pw
		}
	}
	return bus.Connect(bus.ConnectConfig{
		URLs: url, Name: "moa " + cmd,
		Creds: n.Creds, NKeySeed: n.NKey, User: n.User, Password: n.Password, Token: n.Token,
		TLSCert: n.TLSCert, TLSKey: n.TLSKey, TLSCA: n.TLSCA, InboxPrefix: n.InboxPrefix,
	})
}

// operatorContext returns ctx carrying an operator token, which the operator endpoints
// require, obtained from the auth service for secret.
func operatorContext(ctx context.Context, nc *nats.Conn, secret string) (context.Context, error) {
	rt, err := bus.New(nc)
	if err != nil {
		return ctx, err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(c, false)
	}()
	tok, err := bus.Call(ctx, rt.NewClient("moa-cli"), contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: secret})
	if err != nil {
		return ctx, fmt.Errorf("operator token from the auth service (MOA_OPERATOR_SECRET): %w", err)
	}
	return bus.WithAuthToken(ctx, tok.AccessToken), nil
}
