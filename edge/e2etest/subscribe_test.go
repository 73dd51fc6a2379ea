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

// TestConsumerSubscribesInTheBrowser runs the marketplace's main flow on the demo page with
// every real service: the consumer subscribes, the saga (seat, payment) completes, and the
// notify service's notifications reach both users live; the consumer sees the subscription
// active and the mail in the dev mailbox, the seller the subscriber on the dashboard, in the
// row labelled with the product's title and on its chart over time, and a mail about it.
func TestConsumerSubscribesInTheBrowser(t *testing.T) {
	browser := chromium(t)
	reg := map[string]system.Registration{}
	for _, n := range []string{"auth", "billing", "catalog", "notify", "subscription"} {
		r, ok := system.Lookup(n)
		if !ok {
			t.Skipf("service %s is not registered", n)
		}
		reg[n] = r
	}
	sys := systemtest.Boot(t,
		systemtest.Configure(func(c *system.Config) { c.Registry = reg; c.Services = nil }),
		systemtest.Setting("catalog", "CACHE_TTL", "0"))
	url := serveEdge(t, sys, edge.Config{DevMailbox: true})
	b := newBrowser(t, browser)
	sellerTab, consumerTab := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Coffee club " + suffix

	b.run("seller signs up", sellerTab, signUp(url, "seller", suffix, b.until)...)
	b.run("seller publishes", sellerTab, publish(title, b.until)...)
	// A second product of the same seller: the dashboard must tell the two apart by title.
	other := "Cocoa club " + suffix
	b.run("seller publishes another", sellerTab, publish(other, b.until)...)
	b.run("consumer subscribes", consumerTab, append(signUp(url, "consumer", suffix, b.until),
		chromedp.SetValue(chromedp.ID("q"), suffix),
		chromedp.Click(chromedp.ID("search")),
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#browse-result").textContent.startsWith("Subscription to")`),
		// The saga ends in a notification, pushed live.
		b.until(`document.querySelectorAll("#notifications .notification").length >= 1`),
		b.until(`document.querySelector("#my-subscriptions").textContent.includes("ACTIVE")`),
	)...)
	b.run("the mail is in the dev mailbox", consumerTab,
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-mail").click(), document.querySelectorAll("#mails li").length >= 1)`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)))
	b.run("the seller is notified", sellerTab,
		b.until(`document.querySelectorAll("#notifications .notification").length >= 1`),
		// The dashboard is a projection: it may catch up after the notification.
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-dashboard").click(), `+dashboardRow(title)+`?.textContent.includes("1 active"))`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)),
		// One row per product, each under its own title: the subscribed product's row is the
		// only one (the other product had no subscription, so the projection has no row for
		// it), and no two rows share a title.
		b.until(`(() => { const t = [...document.querySelectorAll("#dashboard li")].map(li => li.querySelector("strong")?.textContent);
			return t.length === 1 && new Set(t).size === t.length && t[0] === `+jsString(title)+` && !`+dashboardRow(other)+`; })()`),
		// The chart over time: a labelled image, and the newest day in its table (the day the
		// subscription happened, by the server's clock: the browser's date may already be the
		// next one at midnight UTC) says one new subscriber, one active at the day's end.
		b.until(dashboardRow(title)+`?.querySelector("svg.dash-chart[role=img]")?.getAttribute("aria-label")?.includes("1 active subscribers now")`),
		b.until(`(() => { const days = [...`+dashboardRow(title)+`.querySelectorAll("tr.dash-day")];
			const r = days.reduce((a, tr) => !a || tr.cells[0].textContent > a.cells[0].textContent ? tr : a, null);
			return r && r.cells[1].textContent === "1" && r.cells[6].textContent === "1"; })()`),
	)
	b.run("the seller's mail is in the dev mailbox", sellerTab,
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-mail").click(), [...document.querySelectorAll("#mails li")].some(li => li.textContent.includes("New subscriber") && li.textContent.includes(`+jsString(title)+`)))`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)))
	b.screenshots("subscribe", map[string]context.Context{"seller": sellerTab, "consumer": consumerTab})
}

// dashboardRow finds the seller's dashboard row labelled with the product's title.
func dashboardRow(title string) string {
	return `[...document.querySelectorAll("#dashboard li")].find(li => li.querySelector("strong")?.textContent === ` + jsString(title) + `)`
}
