package e2etest

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// bootMarket runs the marketplace's real services (and the dev mailbox) behind an edge and
// returns its URL.
func bootMarket(t *testing.T, services ...string) string {
	t.Helper()
	reg := map[string]system.Registration{}
	for _, n := range services {
		r, ok := system.Lookup(n)
		if !ok {
			t.Fatalf("service %s is not registered", n)
		}
		reg[n] = r
	}
	sys := systemtest.Boot(t,
		systemtest.Configure(func(c *system.Config) { c.Registry = reg; c.Services = nil }),
		systemtest.Setting("catalog", "CACHE_TTL", "0"))
	return serveEdge(t, sys, edge.Config{DevMailbox: true})
}

// TestPublishRefusesAnUnknownCurrency: the seller types ZZZ, the catalog refuses it on the
// currency field, and the page says so and marks the input.
func TestPublishRefusesAnUnknownCurrency(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "catalog")
	b := newBrowser(t, browser)
	seller := b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	b.run("seller signs up", seller, signUp(url, "seller", suffix, b.until)...)
	b.run("seller publishes in ZZZ", seller,
		chromedp.SetValue(chromedp.ID("p-title"), "Zed club "+suffix),
		chromedp.SetValue(chromedp.ID("p-currency"), "ZZZ"),
		chromedp.Click(chromedp.ID("publish")),
		b.until(`document.querySelector("#publish-result").textContent.startsWith("validation_failed: currency")`),
		b.until(`document.querySelector("#p-currency").getAttribute("aria-invalid") === "true" && document.activeElement.id === "p-currency"`),
	)
	// Corrected, it publishes, and the mark goes.
	b.run("seller corrects it", seller,
		chromedp.SetValue(chromedp.ID("p-currency"), "usd"),
		chromedp.Click(chromedp.ID("publish")),
		b.until(`document.querySelector("#my-products").textContent.includes("Zed club `+suffix+`")`),
		b.until(`!document.querySelector("#p-currency").hasAttribute("aria-invalid")`),
	)
}

// TestFavicon: the icon browsers ask for by themselves is served, as an icon.
func TestFavicon(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth")
	resp, err := http.Get(url + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/x-icon" || len(body) < 22 || string(body[:4]) != "\x00\x00\x01\x00" {
		t.Fatalf("favicon: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
	// The page links it, and the browser loads it from there.
	b := newBrowser(t, browser)
	tab := b.tab()
	b.run("page loads the icon", tab, chromedp.Navigate(url+"/"),
		b.until(`document.querySelector("link[rel=icon]") != null`),
		chromedp.Poll[chromedp.Void](`fetch(document.querySelector("link[rel=icon]").href).then(r => r.ok && r.headers.get("content-type") === "image/x-icon")`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)
}
