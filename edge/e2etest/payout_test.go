package e2etest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// payoutBalance is the seller's balance row of a currency in the payouts panel.
func payoutBalance(currency string) string {
	return `document.querySelector("#payout-balances li[data-currency=` + currency + `]")` // a code: A-Z only
}

// refreshPayoutsUntil presses the panel's Refresh until expr holds: the ledger and the
// history are fed by events, so they catch up a moment after the call that caused them.
func refreshPayoutsUntil(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-payouts").click(), !!(`+expr+`))`,
		chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// TestSellerPaysOutTheBalance: a consumer's subscription charges the product's price; billing's
// payment credits the seller's ledger less the platform fee (10% by default), and the seller's
// payouts panel shows that balance. The seller presses Pay out: the history shows the payout
// paid by the simulated bank and the balance is 0; a payout of the empty balance is refused
// with the service's error shown under the panel.
func TestSellerPaysOutTheBalance(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "billing", "catalog", "notify", "subscription", "payout")
	b := newBrowser(t, browser)
	sellerTab, consumerTab := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Tea club " + suffix
	const net = 5900 - 590 // the form's default price, KRW, less the default fee of 1000 bps

	// The seller is on a phone: the panel must fit its width and its buttons be tappable.
	steps := append([]chromedp.Action[chromedp.Void]{phone()}, signUp(url, "seller", suffix, b.until)...)
	steps = append(steps, publish(title, b.until)...)
	b.run("seller signs up and publishes", sellerTab, append(steps,
		// The panel is there, labelled, with nothing on the balance and no payouts yet.
		b.until(`document.querySelector("#payouts")?.getAttribute("aria-labelledby") === "payouts-h" && document.querySelector("#payouts-h").textContent.includes("Payouts")`),
		b.until(`document.querySelector("#payout-history li.none") != null && document.querySelector("#payout-balances").textContent.includes("No balance yet")`),
	)...)
	b.run("consumer subscribes", consumerTab, append(signUp(url, "consumer", suffix, b.until),
		chromedp.SetValue(chromedp.ID("q"), suffix),
		chromedp.Click(chromedp.ID("search")),
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#my-subscriptions").textContent.includes("ACTIVE")`),
	)...)
	b.run("the seller's balance is the price less the fee", sellerTab,
		refreshPayoutsUntil(payoutBalance("KRW")+`?.dataset.amount === "`+fmt.Sprint(net)+`"`),
		b.until(payoutBalance("KRW")+`.textContent.includes("5,310")`),
		b.until(payoutBalance("KRW")+`.querySelector("button.pay-out:not(:disabled)")?.getAttribute("aria-label")?.includes("5,310")`),
	)
	fits := func(screen string, controls ...string) {
		t.Helper()
		bad, err := chromedp.Run(sellerTab, chromedp.Evaluate[[]string](phoneProblemsJS+"("+jsonOf(controls)+")"))
		if err != nil {
			t.Fatalf("%s: %v", screen, err)
		}
		if len(bad) > 0 {
			t.Errorf("%s at phone width:\n  %s", screen, strings.Join(bad, "\n  "))
		}
	}
	fits("the balance", "#refresh-payouts", "#payout-balances button.pay-out")
	b.run("the seller pays out", sellerTab,
		b.clickWhenPresent(payoutBalance("KRW")+`?.querySelector("button.pay-out:not(:disabled)")`),
		b.until(`document.querySelector("#payout-result").textContent.includes("Payout of ₩5,310 requested")`),
		refreshPayoutsUntil(`document.querySelector("#payout-history li.payout[data-status=PAID]")`),
		b.until(`(() => { const rows = [...document.querySelectorAll("#payout-history li.payout")];
			return rows.length === 1 && rows[0].dataset.amount === "`+fmt.Sprint(net)+`" && rows[0].textContent.includes("paid") && rows[0].textContent.includes("bank reference"); })()`),
		refreshPayoutsUntil(payoutBalance("KRW")+`?.dataset.amount === "0" && `+payoutBalance("KRW")+`.querySelector("button.pay-out").disabled`),
		b.until(`document.querySelector("#payout-error").textContent === ""`),
	)
	fits("the payout history", "#refresh-payouts")
	b.run("a payout of an empty balance is refused, clearly", sellerTab,
		// The button is disabled at 0; enabled by hand, its call is refused by the service.
		b.eval(`(() => { const p = `+payoutBalance("KRW")+`.querySelector("button.pay-out"); p.disabled = false; p.click(); })()`),
		b.until(`document.querySelector("#payout-error").textContent.includes("could not be requested: conflict")`),
		b.until(`document.querySelector("#payout-error").getAttribute("role") === "alert"`),
		b.until(`document.querySelectorAll("#payout-history li.payout").length === 1`),
	)
	b.run("the panel speaks Korean", sellerTab,
		chromedp.SetValue(chromedp.ID("lang"), "ko"),
		b.eval(`document.querySelector("#lang").dispatchEvent(new Event("change"))`),
		b.until(`document.querySelector("#payouts-h").textContent.includes("정산") && document.querySelector("#payout-history-h").textContent === "정산 내역"`),
		b.until(`document.querySelector("#payout-history li.payout[data-status=PAID]")?.textContent.includes("지급 완료")`),
		// The refusal shown is said again in Korean, not left in English.
		b.until(`document.querySelector("#payout-error").textContent.startsWith("정산을 요청하지 못했습니다: conflict")`),
	)
	b.screenshots("payout", map[string]context.Context{"seller": sellerTab})
}
