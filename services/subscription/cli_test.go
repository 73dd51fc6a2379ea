package subscription

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moa-run/moa/contracts"
)

// Usage errors are found before anything is sent, so no server is needed (nc is nil).
func TestCommandsRejectBadUsage(t *testing.T) {
	bad := []struct {
		cmd  func(context.Context, []string) error
		args []string
	}{
		{sagas, []string{"stuk"}},
		{sagas, []string{"stuck", "--older-than", "soon"}},
		{sagas, []string{"stuck", "--older-than=10ms"}},
		{sagas, []string{"stuck", "--limit", "0"}},
		{sagas, []string{"stuck", "--limit", "1001"}},
		{sagas, []string{"stuck", "--limit"}},
		{sagas, []string{"stuck", "--colour"}},
		{sagas, []string{"stuck", "extra"}},
		{projections, []string{"rebuild", "everything"}},
		{projections, []string{"rebuild", "dashboard", "now"}},
		{projections, []string{"replay"}},
	}
	for _, c := range bad {
		if err := c.cmd(context.Background(), c.args); !errors.Is(err, contracts.ErrValidation) {
			t.Errorf("%v: %v, want validation_failed", c.args, err)
		}
	}
	var out bytes.Buffer
	if err := SagasCommand(context.Background(), nil, []string{"help"}, &out); err != nil || !strings.Contains(out.String(), "moa sagas stuck") {
		t.Errorf("sagas help: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := ProjectionsCommand(context.Background(), nil, nil, &out); err != nil || !strings.Contains(out.String(), "moa projections rebuild") {
		t.Errorf("projections help: %q, %v", out.String(), err)
	}
}

func sagas(ctx context.Context, args []string) error {
	return SagasCommand(ctx, nil, args, &bytes.Buffer{})
}
func projections(ctx context.Context, args []string) error {
	return ProjectionsCommand(ctx, nil, args, &bytes.Buffer{})
}
