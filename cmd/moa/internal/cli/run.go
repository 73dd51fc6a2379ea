package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/bus/dlq"
	"github.com/moa-run/moa/cmd/moa/internal/load"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/internal/telemetry"
	"github.com/moa-run/moa/services/subscription"
	"github.com/moa-run/moa/system"
)

// stopGrace is added to the drain timeout for what comes after the drain: services releasing
// their resources and the local databases shutting down.
const stopGrace = 45 * time.Second

// Main runs moa with args (without the program name) and returns the exit status: 0 on
// success and after a signal-triggered shutdown, 1 on failure, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		writeHelp(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "help", "-h", "--help", "-help":
		writeHelp(stdout)
		return 0
	case cmdDev, cmdServe:
		err = runSystem(ctx, cmd, rest, stdout, stderr, getenv)
	case cmdDLQ:
		err = runTool(ctx, cmdDLQ, dlq.Usage, dlq.Run, rest, stdout, getenv)
	case cmdSagas:
		err = runTool(ctx, cmdSagas, subscription.SagasUsage, subscription.SagasCommand, rest, stdout, getenv)
	case cmdProjections:
		err = runTool(ctx, cmdProjections, subscription.ProjectionsUsage, subscription.ProjectionsCommand, rest, stdout, getenv)
	case cmdLoad:
		err = runLoad(ctx, rest, stdout, stderr, getenv)
	default:
		err = usagef("unknown command %q", cmd)
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		writeHelp(stdout)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "moa: %v\nRun 'moa help' for usage.\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "moa: %v\n", err)
		return 1
	}
}

// runSystem is `moa dev` and `moa serve`: start, print where to connect, wait for a signal,
// stop.
func runSystem(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	o, positional, err := parse(cmd, args, getenv)
	if err != nil {
		return err
	}
	cfg := o.System
	switch cmd {
	case cmdDev:
		if len(positional) > 0 {
			return usagef("moa dev takes no arguments (got %q); choose services with --services", positional)
		}
		cfg.Setting = devDefaults(cfg.Setting)
		// The embedded server admits each service as its own user and the tools as the
		// operator, whose credentials the nats: line carries.
		cfg.NATS.Authorize = true
	case cmdServe:
		if len(positional) == 0 {
			return usagef("moa serve needs at least one service (known: %s)", knownServices())
		}
		for _, name := range positional {
			if _, ok := system.Lookup(name); !ok {
				return usagef("unknown service %q (known: %s)", name, knownServices())
			}
		}
		cfg.Services = positional
		cfg.External = true
	}
	log := newLogger(stderr, o)
	cfg.Logger = log

	// Traces go to an OTLP collector only when the OTEL_* environment names one; they are
	// flushed after the system stopped, so that the drain's last spans are in.
	processName := "moa"
	if len(cfg.Services) == 1 {
		processName = cfg.Services[0] // moa serve x: x is the process
	}
	// moa dev also keeps its recent traces in memory for the operations page (edge/ops.go).
	var recent *telemetry.Recorder
	if cmd == cmdDev {
		recent = telemetry.NewRecorder(telemetry.DefaultRecentTraces)
	}
	traces, err := telemetry.Setup(ctx, telemetry.Config{Getenv: getenv, ServiceName: processName, Recorder: recent})
	if err != nil {
		return err
	}
	if traces.Recording() {
		cfg.TracerProvider = traces.Provider
	}
	if traces.Enabled() {
		log.Info("exporting traces", "endpoint", traces.Endpoint())
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := traces.Shutdown(sctx); err != nil {
			log.Warn("traces not flushed", "error", err)
		}
	}()

	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	sys, err := system.Start(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("interrupted while starting; stopped")
			return nil
		}
		return err
	}
	if cmd == cmdDev {
		enableOps(sys, recent)
	}
	fmt.Fprintf(stdout, "nats: %s\nweb: %s\n", sys.OperatorNATSURL(), sys.HTTPURL())

	<-ctx.Done()
	// From here a second signal kills the process the default way, for the impatient.
	stopSignals()
	log.Info("signal received, draining")
	drain := cfg.DrainTimeout
	if drain <= 0 {
		drain = system.DefaultDrainTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain+stopGrace)
	defer cancel()
	if err := sys.Stop(sctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("stopped")
	return nil
}

// enableOps turns on the edge's operations page (when the edge runs here): the recent
// traces, the process's metrics, and operator sign-in with the operator secret, exchanged on
// the system's own bus connection.
func enableOps(sys *system.System, recent *telemetry.Recorder) {
	c, ok := sys.Component("edge")
	if !ok {
		return
	}
	gw, ok := c.(*edge.Gateway)
	if !ok {
		return
	}
	gw.EnableOps(edge.Ops{Traces: recent, Metrics: sys.Registry(),
		OperatorToken: func(ctx context.Context, secret string) (contracts.OperatorToken, error) {
			return bus.Call(ctx, sys.Client(), contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: secret})
		}})
}

// newLogger is the process's logger; a line logged inside a recording span carries its
// trace_id and span_id (telemetry.LogHandler).
func newLogger(w io.Writer, o *Options) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.LogLevel}
	if o.LogFormat == "json" {
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, ho)))
	}
	return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, ho)))
}

// devDefaults gives `moa dev` the settings that only make sense in development: the demo
// page may show the dev mailbox (notify's mails, which reach no one without SMTP).
func devDefaults(setting func(service, key string) string) func(service, key string) string {
	return func(service, key string) string {
		v := setting(service, key)
		if v == "" && service == "edge" && key == system.EdgeDevMailbox {
			return "true"
		}
		if v == "" && service == "auth" && key == system.AuthOperatorSecret {
			return system.DevOperatorSecret
		}
		return v
	}
}

// runLoad is `moa load`: drive a running system through its edge and report the highest rate
// that holds; progress goes to stderr, the report to stdout.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	o, positional, err := parse(cmdLoad, args, getenv)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usagef("moa load takes no arguments (got %q); point it at a system with --url", positional)
	}
	if o.Load.Duration < o.Load.Stage {
		return usagef("--duration %s is shorter than one --stage %s", o.Load.Duration, o.Load.Stage)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	_, err = load.Run(ctx, o.Load, stdout, stderr)
	return err
}
