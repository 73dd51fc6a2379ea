package notify_test

import (
	"testing"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/notify"
	"github.com/moa-run/moa/system"
)

// The warning notify logs without an SMTP server names the variable an operator sets.
func TestWarningNamesTheSMTPVariable(t *testing.T) {
	if got := system.SettingEnv(contracts.NotifyService.Name, notify.SettingSMTPAddr.Key); got != notify.SMTPAddrEnv {
		t.Fatalf("notify's SMTP address is set as %s; its warning names %s", got, notify.SMTPAddrEnv)
	}
}
