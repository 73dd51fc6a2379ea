package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/moa-run/moa/system"
)

// errHelp is returned when -h or --help was asked for.
var errHelp = errors.New("help requested")

// parse reads a subcommand's flags and the environment into Options. Flags may come before,
// between or after positional arguments (`moa serve catalog --http-addr :9000`); "--" ends
// them. It returns the positional arguments.
func parse(cmd string, args []string, getenv func(string) string) (*Options, []string, error) {
	fs := flag.NewFlagSet("moa "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by the caller, help by `moa help`
	values := map[string]*string{}
	bools := map[string]*bool{}
	for _, s := range settings {
		if !s.appliesTo(cmd) {
			continue
		}
		if s.Arg == "" {
			bools[s.Flag] = fs.Bool(s.Flag, false, s.Usage)
		} else {
			values[s.Flag] = fs.String(s.Flag, "", s.Usage)
		}
	}
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, errHelp
			}
			return nil, nil, usageError{msg: err.Error()}
		}
		remaining := fs.Args()
		if len(remaining) == 0 {
			break
		}
		// Parse stops at the first positional argument, or after "--", which ends flags.
		if n := len(rest) - len(remaining); n > 0 && rest[n-1] == "--" {
			positional = append(positional, remaining...)
			break
		}
		positional = append(positional, remaining[0])
		rest = remaining[1:]
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	o := &Options{LogLevel: slog.LevelInfo, LogFormat: "text"}
	for _, s := range settings {
		if !s.appliesTo(cmd) {
			continue
		}
		v, from := s.Default, "default"
		if e := getenv(s.Env); e != "" {
			v, from = e, s.Env
		}
		if given[s.Flag] {
			from = "--" + s.Flag
			if s.Arg == "" {
				v = fmt.Sprint(*bools[s.Flag])
			} else {
				v = *values[s.Flag]
			}
		}
		if v == "" {
			continue
		}
		if err := s.apply(o, v); err != nil {
			return nil, nil, usagef("%s: %v", from, err)
		}
	}
	perServiceURLs(&o.System, getenv)
	o.System.Setting = func(service, key string) string { return getenv(system.SettingEnv(service, key)) }
	return o, positional, nil
}

// perServiceURLs reads MOA_<SERVICE>_POSTGRES_URL and MOA_<SERVICE>_MONGO_URL for every
// registered service.
func perServiceURLs(c *system.Config, getenv func(string) string) {
	for _, name := range system.Services() {
		if u := getenv(system.SettingEnv(name, "postgres_url")); u != "" {
			if c.ServicePostgresURL == nil {
				c.ServicePostgresURL = map[string]string{}
			}
			c.ServicePostgresURL[name] = u
		}
		if u := getenv(system.SettingEnv(name, "mongo_url")); u != "" {
			if c.ServiceMongoURL == nil {
				c.ServiceMongoURL = map[string]string{}
			}
			c.ServiceMongoURL[name] = u
		}
	}
}

// usageError is a mistake on the command line: exit status 2 and a pointer to `moa help`.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return usageError{msg: fmt.Sprintf(format, a...)}
}

func knownServices() string {
	if names := system.Services(); len(names) > 0 {
		return strings.Join(names, ", ")
	}
	return "none registered yet"
}
