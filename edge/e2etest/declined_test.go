package e2etest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// TestSagaPaymentDeclined: with billing declining every card, the consumer's subscription
// walks the compensation path on the page — the seat reserved, the payment declined, the seat
// released — to CANCELLED, with the failed charge listed; the seat is free again, and the
// seller's dashboard counts a failure, not a subscriber.
func TestSagaPaymentDeclined(t *testing.T) {
	browser := chromium(t)
	reg := map[string]system.Registration{}
	for _, n := range []string{"auth", "billing", "catalog", "notify", "subscription"} {
		r, ok := system.Lookup(n)
		if !ok {
			t.Fatalf("service %s is not registered", n)
		}
		reg[n] = r
	}
	sys := systemtest.Boot(t,
		systemtest.Configure(func(c *system.Config) { c.Registry = reg; c.Services = nil }),
		systemtest.Setting("catalog", "CACHE_TTL", "0"),
		systemtest.Setting("billing", "SIM_DECLINE_RATE", "1"))
	url := serveEdge(t, sys, edge.Config{DevMailbox: true})
	b := newBrowser(t, browser)
	seller, consumer := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Declined club " + suffix
	b.run("seller publishes one seat", seller, append(signUp(url, "seller", suffix, b.until),
		chromedp.WaitVisible(chromedp.ID("seller")),
		chromedp.SetValue(chromedp.ID("p-capacity"), "1"))...)
	b.run("seller publishes", seller, publish(title, b.until)...)
	b.run("consumer subscribes and is declined", consumer, append(signUp(url, "consumer", suffix, b.until),
		chromedp.Click(chromedp.ID("refresh-products")),
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#browse-result").textContent === `+jsString("Subscription to "+title+": CANCELLED.")),
		b.until(stepsAre(title, "requested:done seat:done paid:failed cancel:done release:done cancelled:done")),
		b.until(`[...`+stepsOf(title)+`].some(s => s.dataset.step === "paid" && s.textContent.includes("payment declined"))`),
		b.until(`[...document.querySelectorAll("#my-subscriptions .payments li")].some(p => p.textContent.startsWith("charge") && p.textContent.includes("FAILED"))`),
	)...)
	b.screenshots("declined", map[string]context.Context{"consumer": consumer})
	b.run("the seat is free again and the seller sees a failure", seller,
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-products").click(), [...document.querySelectorAll("#products li")].some(li => li.textContent.includes(`+jsString(title)+`) && li.textContent.includes("0/1 seats")))`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-dashboard").click(), `+dashboardRow(title)+`?.textContent.includes("0 active") && `+dashboardRow(title)+`.textContent.includes("1 failed"))`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)),
	)
}
