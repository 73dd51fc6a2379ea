package moatest_test

import (
	"testing"

	"github.com/moa-run/moa/moatest"
)

func TestMain(m *testing.M) { moatest.Main(m) }
