package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/cmd/moa/internal/load"
)

// moa load's flags come from the settings table: defaults parse, and a bad value is a usage
// error (exit 2) that names the flag or variable it came from, before anything is dialled.
func TestLoadFlags(t *testing.T) {
	o, _, err := parse(cmdLoad, []string{"--rate", "50", "--stage", "5s"}, env(map[string]string{"MOA_LOAD_USERS": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.Load.Rate != 50 || o.Load.Stage != 5*time.Second || o.Load.Users != 7 || o.Load.Duration != time.Minute ||
		o.Load.P99 != 100*time.Millisecond || len(o.Load.Mix) != len(load.Mixable) {
		t.Errorf("load config %+v", o.Load)
	}
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--mix", "browse=1,fly=2"}, nil, `--mix: unknown operation "fly"`},
		{[]string{"--mix", "browse=0"}, nil, "--mix: the mix"},
		{nil, map[string]string{"MOA_LOAD_MIX": "browse"}, "MOA_LOAD_MIX: want op=weight"},
		{[]string{"--rate", "-3"}, nil, "--rate: want a positive number"},
		{[]string{"--step", "0.5"}, nil, "--step: want a factor ≥ 1"},
		{[]string{"--users", "0"}, nil, "--users: want a whole number ≥ 1"},
		{[]string{"--stage", "20s", "--duration", "10s"}, nil, "shorter than one --stage"},
		{[]string{"extra"}, nil, "moa load takes no arguments"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), append([]string{cmdLoad}, c.args...), &stdout, &stderr, env(c.env))
		if code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("moa load %q (env %v): exit %d, stderr %q, want 2 and %q", c.args, c.env, code, stderr.String(), c.want)
		}
	}
}
