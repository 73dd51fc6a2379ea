package subscription

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
)

// SagasUsage is the help of `moa sagas`.
const SagasUsage = `usage: moa sagas stuck [flags]

Lists subscription sagas in PENDING or CANCELLING for longer than the deadline, oldest first.
The sweeper re-emits their current step (nudges) and times out PENDING ones; a saga listed
here with many nudges is waiting for a service that is down, or for an operator.

flags:
  --older-than D   only sagas unchanged for longer than D (Go duration; default: the service's STUCK_AFTER)
  --limit N        list at most N (default 100, at most 1000)
  --json           JSON output
`

// ProjectionsUsage is the help of `moa projections`.
const ProjectionsUsage = `usage: moa projections rebuild [dashboard]

Rebuilds the sellers' dashboard projection: empties it and replays the SUBSCRIPTION and
BILLING streams from their first message, in one transaction (readers see the old numbers
until the new ones are complete).
`

// SagasCommand runs `moa sagas <args>` against the subscription service reachable on nc.
// Usage errors are contracts.ErrValidation.
func SagasCommand(ctx context.Context, nc *nats.Conn, args []string, stdout io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		_, err := io.WriteString(stdout, SagasUsage)
		return err
	}
	if args[0] != "stuck" {
		return contracts.ErrValidation.Msg("unknown sagas command %q (known: stuck)", args[0])
	}
	var req contracts.StuckSagasRequest
	asJSON := false
	for i := 1; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") {
			return contracts.ErrValidation.Msg("unexpected argument %q", args[i])
		}
		if name == "json" {
			asJSON = true
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return contracts.ErrValidation.Msg("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		switch name {
		case "older-than":
			d, err := time.ParseDuration(value)
			if err != nil || d < time.Second {
				return contracts.ErrValidation.Msg("--older-than %q is not a duration of at least 1s", value)
			}
			req.OlderThanSeconds = int64(d / time.Second)
		case "limit":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 || n > 1000 {
				return contracts.ErrValidation.Msg("--limit %q is not between 1 and 1000", value)
			}
			req.Limit = n
		default:
			return contracts.ErrValidation.Msg("unknown flag --%s", name)
		}
	}
	c, done, err := subscriptionClient(nc)
	if err != nil {
		return err
	}
	defer done()
	res, err := c.Stuck(ctx, req)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "%d stuck saga(s)", res.Count)
	if int64(len(res.Items)) < res.Count {
		fmt.Fprintf(stdout, ", oldest %d shown", len(res.Items))
	}
	fmt.Fprintln(stdout)
	if len(res.Items) == 0 {
		return nil
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SUBSCRIPTION\tSTATE\tREASON\tNUDGES\tSTUCK FOR\tPRODUCT\tCONSUMER")
	now := time.Now()
	for _, s := range res.Items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, s.State, dash(s.Reason), s.Nudges,
			now.Sub(s.Since).Round(time.Second), s.ProductID, s.ConsumerID)
	}
	return w.Flush()
}

// ProjectionsCommand runs `moa projections <args>` against the subscription service on nc.
func ProjectionsCommand(ctx context.Context, nc *nats.Conn, args []string, stdout io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		_, err := io.WriteString(stdout, ProjectionsUsage)
		return err
	}
	if args[0] != "rebuild" || len(args) > 2 || (len(args) == 2 && args[1] != "dashboard") {
		return contracts.ErrValidation.Msg("usage: moa projections rebuild [dashboard]")
	}
	c, done, err := subscriptionClient(nc)
	if err != nil {
		return err
	}
	defer done()
	start := time.Now()
	res, err := c.RebuildDashboard(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "dashboard rebuilt: %d events replayed, %d products, in %s\n",
		res.Events, res.Products, time.Since(start).Round(time.Millisecond))
	return err
}

func subscriptionClient(nc *nats.Conn) (*client.SubscriptionClient, func(), error) {
	rt, err := bus.New(nc)
	if err != nil {
		return nil, nil, err
	}
	done := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	}
	return client.NewSubscriptionClient(rt.NewClient("moa-cli")), done, nil
}

func isHelp(s string) bool { return s == "help" || s == "-h" || s == "--help" }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
