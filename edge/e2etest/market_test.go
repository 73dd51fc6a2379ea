package e2etest

import (
	"context"
	"encoding/json"
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
	b.screenshots("currency", map[string]context.Context{"seller": seller})
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

// TestPagingPastTwentyProducts: a seller with 22 products sees the last two of them behind
// "more", and a consumer reaches the oldest on the catalog's second page with "Load more".
func TestPagingPastTwentyProducts(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "catalog")
	b := newBrowser(t, browser)
	seller, consumer := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	b.run("seller signs up", seller, signUp(url, "seller", suffix, b.until)...)
	// The first 20 go in over a connection of their own (the page's would hit the edge's
	// per-connection rate limit at this pace, which no person publishing by hand reaches);
	// the last two through the form.
	const n = 22
	var seed []string
	for i := range n - 2 {
		seed = append(seed, fmt.Sprintf("Page item %02d %s", i, suffix))
	}
	seedProducts(t, b, seller, seed)
	for i := n - 2; i < n; i++ {
		b.run("seller publishes", seller, publish(fmt.Sprintf("Page item %02d %s", i, suffix), b.until)...)
	}
	first := fmt.Sprintf("Page item %02d %s", 0, suffix) // the oldest: on the second page, newest first
	b.run("seller pages through their products", seller,
		b.until(`document.querySelectorAll("#my-products li").length === 20 && !document.querySelector("#my-products-more").hidden`),
		b.until(`!document.querySelector("#my-products").textContent.includes(`+jsString(first)+`)`),
		chromedp.Click(chromedp.ID("my-products-more")),
		b.until(`document.querySelectorAll("#my-products li").length === `+fmt.Sprint(n)+` && document.querySelector("#my-products-more").hidden`),
		b.until(`document.querySelector("#my-products").textContent.includes(`+jsString(first)+`)`),
	)
	b.run("consumer pages through the catalog", consumer, append(signUp(url, "consumer", suffix, b.until),
		chromedp.Click(chromedp.ID("refresh-products")),
		b.until(`document.querySelectorAll("#products li").length === 20 && !document.querySelector("#load-more").hidden`),
		b.until(`!document.querySelector("#products").textContent.includes(`+jsString(first)+`)`),
	)...)
	b.run("consumer loads more", consumer,
		chromedp.Click(chromedp.ID("load-more")),
		b.until(`document.querySelectorAll("#products li").length === `+fmt.Sprint(n)+` && document.querySelector("#load-more").hidden`),
	)
	b.run("focus on the first new item", consumer,
		// Focus moves to the first new item, so a keyboard user goes on from there.
		b.until(`document.activeElement.closest("#products li") === document.querySelectorAll("#products li")[20]`),
	)
	ids, err := chromedp.Run(consumer, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#products li")].map(li => li.dataset.id)`))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("product %s shown twice across pages: %v", id, ids)
		}
		seen[id] = true
	}
	// The oldest product, reached on the second page, opens.
	b.run("consumer opens the product on the second page", consumer,
		b.clickWhenPresent(productButton(first, ".open-product")),
		b.until(`!document.querySelector("#product").hidden && document.querySelector("#product-title").textContent === `+jsString(first)),
	)
	b.screenshots("paging", map[string]context.Context{"seller": seller, "consumer": consumer})
	// Sorting starts over from the first page.
	b.run("consumer sorts by price", consumer,
		chromedp.SetValue(chromedp.ID("sort"), "price_asc"),
		b.eval(`document.querySelector("#sort").dispatchEvent(new Event("change"))`),
		b.until(`document.querySelectorAll("#products li").length === 20 && !document.querySelector("#load-more").hidden`),
	)
}

// TestProductPage: the detail view shows terms, seats left and the view count; views are
// counted once per viewer, and the seats left follow a subscription live.
func TestProductPage(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "billing", "catalog", "notify", "subscription")
	b := newBrowser(t, browser)
	seller, consumer := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Detail club " + suffix
	b.run("seller publishes", seller, append(signUp(url, "seller", suffix, b.until),
		chromedp.WaitVisible(chromedp.ID("seller")),
		chromedp.SetValue(chromedp.ID("p-capacity"), "3"),
		chromedp.SetValue(chromedp.ID("p-terms"), "Term one: be kind "+suffix),
		chromedp.SetValue(chromedp.ID("p-description"), "Fresh every week"))...)
	b.run("seller publishes", seller, publish(title, b.until)...)
	open := func(who string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			b.eval(`document.querySelector("#close-product").click()`),
			chromedp.Click(chromedp.ID("refresh-products")),
			b.clickWhenPresent(productButton(title, ".open-product")),
			b.until(`!document.querySelector("#product").hidden && document.querySelector("#product-title").textContent === ` + jsString(title)),
		}
	}
	b.run("consumer opens the product page", consumer, append(append(signUp(url, "consumer", suffix, b.until), open("consumer")...),
		b.until(`document.querySelector("#product-terms").textContent === "Term one: be kind `+suffix+`"`),
		b.until(`document.querySelector("#product-terms-version").textContent === "(version 1)"`),
		b.until(`document.querySelector("#product-description").textContent === "Fresh every week"`),
		b.until(`document.querySelector("#product-seats").textContent === "3 of 3 seats left"`),
		b.until(`document.querySelector("#product-views").dataset.views === "1"`),
	)...)
	b.run("seller views it too", seller, append(open("seller"),
		b.until(`document.querySelector("#product-views").dataset.views === "2"`))...)
	// The same viewer again within 24 h is not counted again.
	b.run("consumer views it again", consumer, append(open("consumer"),
		b.until(`document.querySelector("#product-views").dataset.views === "2"`),
		// Subscribing from the product page takes a seat; the page shows it without a reload.
		b.clickWhenPresent(`document.querySelector("#product-subscribe")`),
		b.until(`document.querySelector("#product-seats").textContent === "2 of 3 seats left"`),
	)...)
	b.run("seller's open product page follows", seller,
		chromedp.Poll[chromedp.Void](`document.querySelector("#product-seats").textContent === "2 of 3 seats left"`,
			chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	b.screenshots("product", map[string]context.Context{"seller": seller, "consumer": consumer})
}

// seedProducts publishes products as the seller signed in on tab, in order, over a second
// SDK connection of that page.
func seedProducts(t *testing.T, b *browser, tab context.Context, titles []string) {
	t.Helper()
	js := `(async (titles) => {
		const { MoaClient } = await import("/sdk/moa.js");
		const session = await ` + sessionJS + `;
		const c = new MoaClient({ token: () => session.accessToken, reconnect: false });
		try {
			for (const title of titles) {
				await c.call("catalog.create_product", { title, price_amount: 5900, currency: "KRW", billing_period: "monthly",
					terms: "Cancel any time.", capacity: 100 });
			}
		} finally { c.close(); }
		return titles.length;
	})(` + jsonOf(titles) + `)`
	n, err := chromedp.Run(tab, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil || n != len(titles) {
		t.Fatalf("seeding products: %d, %v", n, err)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSellerEditsTermsAndDeletes: the seller edits a product from the page, sees who the new
// terms will be mailed to, saves, and the subscriber gets the notification and the mail; an
// unknown currency is refused on its field; a product without subscribers is deleted, one with
// a subscriber is not.
func TestSellerEditsTermsAndDeletes(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "billing", "catalog", "notify", "subscription")
	b := newBrowser(t, browser)
	seller, consumer := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title, spare := "Terms club "+suffix, "Spare club "+suffix
	b.run("seller publishes", seller, append(append(signUp(url, "seller", suffix, b.until), publish(title, b.until)...), publish(spare, b.until)...)...)
	b.run("consumer subscribes", consumer, append(signUp(url, "consumer", suffix, b.until),
		chromedp.Click(chromedp.ID("refresh-products")),
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#my-subscriptions li.subscription")?.dataset.state === "ACTIVE"`),
	)...)
	editButton := func(title string) string {
		return `[...document.querySelectorAll("#my-products li")].find(li => li.textContent.includes(` + jsString(title) + `))?.querySelector(".edit")`
	}
	newTerms := "Refunds within 7 days only " + suffix
	b.run("seller edits the terms", seller,
		b.clickWhenPresent(editButton(title)),
		b.until(`!document.querySelector("#edit-form").hidden && document.querySelector("#e-title").value === `+jsString(title)),
		b.until(`document.activeElement.id === "e-title"`),
		chromedp.SetValue(chromedp.ID("e-currency"), "ZZZ"),
		chromedp.Click(chromedp.ID("save-product")),
		b.until(`document.querySelector("#edit-result").textContent.startsWith("validation_failed: currency") && document.querySelector("#e-currency").getAttribute("aria-invalid") === "true"`),
		chromedp.SetValue(chromedp.ID("e-currency"), "KRW"),
		chromedp.SetValue(chromedp.ID("e-title"), title+" v2"),
		chromedp.SetValue(chromedp.ID("e-terms"), newTerms),
		b.eval(`document.querySelector("#e-terms").dispatchEvent(new Event("input"))`),
		// Before saving, the seller learns who will be told.
		b.until(`document.querySelector("#terms-preview").dataset.subscribers === "1"`),
		chromedp.Click(chromedp.ID("save-product")),
		b.until(`document.querySelector("#edit-result").textContent.includes("terms version 2")`),
		b.until(`document.querySelector("#my-products").textContent.includes(`+jsString(title+" v2")+`)`),
	)
	b.run("the subscriber is told", consumer,
		b.until(`[...document.querySelectorAll("#notifications .notification")].some(n => n.textContent.includes("New terms for") && n.textContent.includes(`+jsString(suffix)+`))`),
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-mail").click(), [...document.querySelectorAll("#mails li")].some(m => m.textContent.includes("New terms for") && m.textContent.includes(`+jsString(newTerms)+`)))`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)),
		// The catalog shows the new title.
		b.until(`document.querySelector("#products").textContent.includes(`+jsString(title+" v2")+`)`),
	)
	b.run("seller cannot delete a product with a subscriber", seller,
		b.clickWhenPresent(editButton(title+" v2")),
		b.until(`!document.querySelector("#edit-form").hidden && document.querySelector("#e-title").value === `+jsString(title+" v2")),
		chromedp.Click(chromedp.ID("delete-product")),
		b.until(`document.querySelector("#delete-product").textContent === "Confirm delete"`),
		// Typing in the form disarms it: a later press asks again.
		b.eval(`document.querySelector("#e-description").dispatchEvent(new Event("input", { bubbles: true }))`),
		b.until(`document.querySelector("#delete-product").textContent === "Delete" && document.querySelector("#edit-result").textContent === ""`),
		chromedp.Click(chromedp.ID("delete-product")),
		b.until(`document.querySelector("#delete-product").textContent === "Confirm delete"`),
		chromedp.Click(chromedp.ID("delete-product")),
		b.until(`document.querySelector("#edit-result").textContent.startsWith("conflict:")`),
	)
	b.run("seller deletes the spare product", seller,
		b.clickWhenPresent(editButton(spare)),
		b.until(`!document.querySelector("#edit-form").hidden && document.querySelector("#e-title").value === `+jsString(spare)),
		chromedp.Click(chromedp.ID("delete-product")),
		chromedp.Click(chromedp.ID("delete-product")),
		b.until(`document.querySelector("#my-products-result").textContent === `+jsString("Deleted “"+spare+"”.")),
		b.until(`!document.querySelector("#my-products").textContent.includes(`+jsString(spare)+`) && document.querySelector("#edit-form").hidden`),
	)
	b.screenshots("edit", map[string]context.Context{"seller": seller, "consumer": consumer})
	b.run("the consumer's catalog loses it", consumer,
		chromedp.Click(chromedp.ID("refresh-products")),
		b.until(`document.querySelector("#products").textContent.includes(`+jsString(title+" v2")+`) && !document.querySelector("#products").textContent.includes(`+jsString(spare)+`)`),
	)
}

// stepsOf reads the saga steps the page shows for the subscription to the product titled
// title, as "key:status" pairs.
func stepsOf(title string) string {
	return `[...document.querySelectorAll("#my-subscriptions li.subscription")].find(li => li.textContent.includes(` + jsString(title) + `))
		?.querySelectorAll(".step") ?? []`
}

func stepsAre(title, want string) string {
	return `[...` + stepsOf(title) + `].map(s => s.dataset.step + ":" + s.dataset.status).join(" ") === ` + jsString(want)
}

// TestSagaStepsLive: the consumer's "PENDING" turns into ACTIVE without a reload, with the
// saga's steps; cancelling shows the compensation (refund, seat released) to CANCELLED; a
// second consumer who finds no seat sees that path end.
func TestSagaStepsLive(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "billing", "catalog", "notify", "subscription")
	b := newBrowser(t, browser)
	seller, consumer, late := b.tab(), b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Saga club " + suffix
	b.run("seller publishes one seat", seller, append(signUp(url, "seller", suffix, b.until),
		chromedp.WaitVisible(chromedp.ID("seller")),
		chromedp.SetValue(chromedp.ID("p-capacity"), "1"))...)
	b.run("seller publishes", seller, publish(title, b.until)...)
	b.run("consumer subscribes", consumer, append(signUp(url, "consumer", suffix, b.until),
		chromedp.Click(chromedp.ID("refresh-products")),
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#browse-result").textContent.startsWith("Subscription to")`),
		// The message the subscribe left follows the saga to its end.
		b.until(`document.querySelector("#browse-result").textContent === `+jsString("Subscription to "+title+": ACTIVE.")),
		b.until(stepsAre(title, "requested:done seat:done paid:done active:done")),
		b.until(`[...document.querySelectorAll("#my-subscriptions .payments li")].some(p => p.textContent.startsWith("charge") && p.textContent.includes("SUCCEEDED"))`),
	)...)
	b.run("a second consumer finds no seat", late, append(signUp(url, "consumer", suffix+"b", b.until),
		chromedp.Click(chromedp.ID("refresh-products")),
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#browse-result").textContent === `+jsString("Subscription to "+title+": CANCELLED.")),
		b.until(stepsAre(title, "requested:done seat:failed cancel:done cancelled:done")),
	)...)
	b.run("consumer cancels", consumer,
		b.clickWhenPresent(`document.querySelector("#my-subscriptions li.subscription .cancel")`),
		b.until(stepsAre(title, "requested:done seat:done paid:done active:done cancel:done refund:done release:done cancelled:done")),
		b.until(`document.querySelector("#my-subscriptions li.subscription").dataset.state === "CANCELLED"`),
		b.until(`[...document.querySelectorAll("#my-subscriptions .payments li")].some(p => p.textContent.startsWith("refund"))`),
	)
	b.screenshots("saga", map[string]context.Context{"consumer": consumer, "no-seat": late})
	// The seat came back: the seller's catalog shows it free again.
	b.run("the seat is free again", seller,
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-products").click(), [...document.querySelectorAll("#products li")].some(li => li.textContent.includes(`+jsString(title)+`) && li.textContent.includes("0/1 seats")))`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)))
}

// TestSearchHistory: a consumer's searches show as recent searches (one removed, then all),
// everyone's as popular searches, and both as suggestions while typing, for a second user too.
func TestSearchHistory(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "catalog", "search")
	b := newBrowser(t, browser)
	seller, consumer := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	b.run("seller publishes", seller, append(signUp(url, "seller", suffix, b.until), publish("Green tea "+suffix, b.until)...)...)
	q1, q2 := "green tea "+suffix, "green leaf "+suffix
	search := func(q string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{chromedp.SetValue(chromedp.ID("q"), q), chromedp.Click(chromedp.ID("search"))}
	}
	recent := `[...document.querySelectorAll("#recent-searches li")].map(li => li.dataset.query).join("|")`
	// refreshed polls with the search box focused anew, which reloads the history.
	refreshed := func(cond string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`(document.activeElement.blur(), document.querySelector("#q").focus(), `+cond+`)`,
			chromedp.WithPollingInterval(300*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
	}
	b.run("consumer searches twice", consumer, append(append(append(signUp(url, "consumer", suffix, b.until), search(q1)...),
		b.until(`document.querySelector("#products").dataset.query === `+jsString(q1)+` && document.querySelector("#products").textContent.includes("Green tea `+suffix+`")`)),
		search(q2)...)...)
	b.run("recent searches, newest first", consumer,
		refreshed(recent+` === `+jsString(q2+"|"+q1)),
		b.until(`!document.querySelector("#recent-box").hidden`),
	)
	b.run("one is removed", consumer,
		b.clickWhenPresent(`[...document.querySelectorAll("#recent-searches li")].find(li => li.dataset.query === `+jsString(q1)+`)?.querySelector(".chip-remove")`),
		b.until(recent+` === `+jsString(q2)),
		// A recent search runs again from its chip.
		b.clickWhenPresent(`document.querySelector("#recent-searches li .chip")`),
		b.until(`document.querySelector("#q").value === `+jsString(q2)),
	)
	b.run("suggestions while typing", consumer,
		b.eval(`document.querySelector("#q").value = ""`),
		chromedp.SendKeys(chromedp.ID("q"), "green"),
		b.until(`[...document.querySelectorAll("#suggestions option")].some(o => o.value === `+jsString(q2)+` && o.dataset.source === "recent")`),
	)
	// The seller has searched nothing: the consumer's searches reach them as popular ones.
	b.run("popular and suggested for another user", seller,
		refreshed(`[...document.querySelectorAll("#popular-searches button")].some(x => x.textContent === `+jsString(q1)+`)`),
		// #recent-box starts hidden, so its being hidden proves nothing by itself: data-loaded
		// says a search.recent answer was shown, and it listed nothing.
		b.until(`Number(document.querySelector("#recent-box").dataset.loaded) > 0 && document.querySelector("#recent-box").hidden && document.querySelectorAll("#recent-searches li").length === 0`),
		chromedp.SendKeys(chromedp.ID("q"), "green t"),
		b.until(`[...document.querySelectorAll("#suggestions option")].some(o => o.value === `+jsString(q1)+` && o.dataset.source === "popular")`),
	)
	b.screenshots("search", map[string]context.Context{"seller": seller, "consumer": consumer})
	b.run("consumer clears the history", consumer,
		b.clickWhenPresent(`document.querySelector("#clear-recent")`),
		b.until(`document.querySelectorAll("#recent-searches li").length === 0 && document.querySelector("#recent-box").hidden`),
	)
}

// TestPageIsLabelledAndKeyboardUsable: every form control has a label a screen reader can
// read; the keyboard focus on a product in the list stays on the same element while the list
// is re-rendered live (a consumer subscribes elsewhere, the seller's tab is notified and
// re-reads the seats); and the product page opens and closes from the keyboard.
func TestPageIsLabelledAndKeyboardUsable(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "billing", "catalog", "notify", "subscription")
	b := newBrowser(t, browser)
	seller, consumer := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Keys club " + suffix
	b.run("seller publishes", seller, append(signUp(url, "seller", suffix, b.until), publish(title, b.until)...)...)
	unlabelled, err := chromedp.Run(seller, chromedp.Evaluate[[]string](`[...document.querySelectorAll("input, select, textarea")]
		.filter(e => e.type !== "hidden" && !e.labels.length && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby"))
		.map(e => e.id || e.outerHTML)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(unlabelled) != 0 {
		t.Fatalf("form controls without a label: %v", unlabelled)
	}
	// The seller's keyboard focus rests on the product in the catalog list; the element is
	// remembered, so "the same element" is checked by identity, not by a look-alike.
	open := productButton(title, ".open-product")
	b.run("seller focuses the product in the list", seller,
		b.until(`(() => { const e = `+open+`; e?.focus(); return e != null && document.activeElement === e && (window.kept = e, true); })()`),
		b.until(`[...document.querySelectorAll("#products li")].some(li => li.textContent.includes(`+jsString(title)+`) && li.textContent.includes("0/100 seats"))`),
	)
	b.run("a consumer subscribes", consumer, append(signUp(url, "consumer", suffix, b.until),
		chromedp.Click(chromedp.ID("refresh-products")),
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#my-subscriptions li.subscription")?.dataset.state === "ACTIVE"`),
	)...)
	b.run("the seller's list is re-rendered live and the focus stays put", seller,
		// The seller's notification re-reads the list: the row shows the taken seat...
		b.until(`[...document.querySelectorAll("#products li")].some(li => li.textContent.includes(`+jsString(title)+`) && li.textContent.includes("1/100 seats"))`),
		// ...and the focus is still on the very element it was on, in the document.
		b.until(`window.kept.isConnected && document.activeElement === window.kept && window.kept === `+open),
		// Enter on it opens the product page.
		chromedp.KeyEvent("\r"),
		b.until(`!document.querySelector("#product").hidden && document.activeElement.id === "product"`),
	)
	b.run("open and close the product page with the keyboard", seller,
		// The page re-reads the open product every 5 s and rebuilds its buttons: the keyboard
		// focus stays on the same button (a marked old one is replaced by an unmarked new one).
		b.eval(`(() => { const e = document.querySelector('#product-actions button[data-action="Edit"]'); e.dataset.stale = "1"; e.focus(); })()`),
		b.until(`(() => { const e = document.querySelector('#product-actions button[data-action="Edit"]'); return e != null && !e.dataset.stale && document.activeElement === e; })()`),
		chromedp.SendKeys(chromedp.ID("close-product"), "\r"),
		b.until(`document.querySelector("#product").hidden`),
		// Focus returns to the product in the list.
		b.until(`document.activeElement.closest("#products li")?.textContent.includes(`+jsString(title)+`) === true`),
	)
}
