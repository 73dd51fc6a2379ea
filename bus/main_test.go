package bus_test

import (
	"testing"

	"github.com/moa-run/moa/moatest"
)

// moatest.Main is where the kill -9 tests' nats-server processes (moatest.NATSProc) run.
func TestMain(m *testing.M) { moatest.Main(m) }
