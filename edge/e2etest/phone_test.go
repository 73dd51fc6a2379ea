package e2etest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// phone makes the tab a phone: 390×844 CSS pixels at 3 device pixels each, mobile (the page's
// viewport meta tag applies, scrollbars overlay).
func phone() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: 390, Height: 844, DeviceScaleFactor: 3, Mobile: true})
		if err != nil {
			return fmt.Errorf("device metrics: %w", err)
		}
		return nil
	})
}

// phoneProblemsJS lists what is wrong with the screen the page shows at phone width: anything
// wider than the screen (the page scrolls sideways; the elements that stick out are named),
// and each of the key controls (CSS selectors) that is missing, hidden, off the screen, under
// something else where a tap would land, or smaller than a 24×24 px target (WCAG 2.2).
const phoneProblemsJS = `((controls) => {
	const name = (e) => e ? e.localName + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "") : "nothing";
	const de = document.documentElement, W = de.clientWidth, bad = [];
	if (de.scrollWidth > W) {
		bad.push("page is " + de.scrollWidth + " px wide on a " + W + " px screen");
		for (const e of document.body.querySelectorAll("*")) {
			const r = e.getBoundingClientRect();
			if (r.width && r.right > W + 0.5 && ![...e.children].some((c) => c.getBoundingClientRect().right > W + 0.5)) bad.push("sticks out: " + name(e) + " (right edge " + Math.round(r.right) + ")");
		}
	}
	for (const sel of controls) {
		const e = document.querySelector(sel);
		if (!e) { bad.push(sel + ": missing"); continue; }
		e.scrollIntoView({ block: "center", inline: "nearest" });
		const r = e.getBoundingClientRect();
		if (!e.checkVisibility() || !r.width || !r.height) { bad.push(sel + ": not visible"); continue; }
		if (r.left < -0.5 || r.right > W + 0.5) { bad.push(sel + ": off the screen (" + Math.round(r.left) + ".." + Math.round(r.right) + ")"); continue; }
		if (r.width < 24 || r.height < 24) bad.push(sel + ": " + Math.round(r.width) + "×" + Math.round(r.height) + " px, smaller than a 24×24 target");
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		const label = e.labels ? [...e.labels] : [];
		if (!hit || !(e === hit || e.contains(hit) || label.some((l) => l.contains(hit)))) bad.push(sel + ": a tap lands on " + name(hit));
	}
	window.scrollTo(0, 0);
	return bad;
})`

// TestPhoneWidth walks the main screens at a phone's width, a seller and a consumer: sign-in,
// the seller's form, products and edit form, the catalog, a product page, search with its
// history, subscriptions with their steps, chat, notifications, the dashboard and the mailbox.
// On each, nothing is wider than the screen and the screen's key controls can be tapped. The
// test's own presses are script clicks: lists that load above a button move it, and a mouse
// press at its old place would miss (whether a tap can reach it is what the check looks at).
func TestPhoneWidth(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "billing", "catalog", "chat", "notify", "search", "subscription")
	b := newBrowser(t, browser)
	seller, consumer := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	// A title with a word longer than a phone is wide, as product names and pasted links can be.
	title := "Phone club " + suffix + " Extraordinarilylongproductnamewithoutanyspacesinit"
	check := func(who string, tab context.Context, screen string, controls ...string) {
		t.Helper()
		bad, err := chromedp.Run(tab, chromedp.Evaluate[[]string](phoneProblemsJS+"("+jsonOf(controls)+")"))
		if err != nil {
			t.Fatalf("%s, %s: %v", who, screen, err)
		}
		if len(bad) > 0 {
			t.Errorf("%s, %s at phone width:\n  %s", who, screen, strings.Join(bad, "\n  "))
		}
		b.screenshots("phone-"+strings.ReplaceAll(screen, " ", "-"), map[string]context.Context{who: tab})
	}

	b.run("seller opens the page on a phone", seller, phone(), chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.ID("auth-form")),
		b.until(`document.querySelector("#status").textContent === "connected"`))
	check("seller", seller, "sign in", "#email", "#password", "#display-name", "#role", "#signup", "#signin", "#lang", "#ops-link")
	b.run("seller signs up", seller, signUp(url, "seller", suffix, b.until)[2:]...)
	b.run("seller publishes", seller, chromedp.SetValue(chromedp.ID("p-description"), "Fresh https://example.test/a/very/long/link/that/does/not/break/anywhere/"+suffix))
	b.run("seller publishes", seller, publish(title, b.until)...)
	check("seller", seller, "seller form", "#p-title", "#p-description", "#p-price", "#p-currency", "#p-period", "#p-capacity", "#p-terms", "#p-tags", "#publish", "#signout")
	b.run("seller opens the edit form", seller,
		b.clickWhenPresent(`document.querySelector("#my-products li.my-product button.edit")`),
		b.until(`!document.querySelector("#edit-form").hidden && document.querySelector("#e-title").value === `+jsString(title)))
	check("seller", seller, "edit form", "#my-products li.my-product .open-product", "#my-products li.my-product button.edit",
		"#e-title", "#e-price", "#e-currency", "#e-period", "#e-capacity", "#e-terms", "#save-product", "#cancel-edit", "#delete-product")
	b.run("seller closes the edit form", seller, b.clickWhenPresent(`document.getElementById("cancel-edit")`))

	b.run("consumer opens the page on a phone", consumer, phone())
	b.run("consumer signs up", consumer, signUp(url, "consumer", suffix, b.until)...)
	b.run("consumer sees the catalog", consumer,
		b.clickWhenPresent(`document.getElementById("refresh-products")`),
		// The consumer's row, with its buttons (a row drawn before the sign-in has none).
		b.until(productButton(title, ".subscribe")+` != null`))
	row := `#products li.product[data-id]`
	check("consumer", consumer, "catalog", "#q", "#search", "#refresh-products", "#sort", "#tag-filter",
		row+" .open-product", row+" .subscribe", row+" .chat-seller")
	b.run("consumer opens the product page", consumer,
		b.clickWhenPresent(productButton(title, ".open-product")),
		b.until(`!document.querySelector("#product").hidden && document.querySelector("#product-title").textContent === `+jsString(title)))
	check("consumer", consumer, "product page", "#close-product", "#product-subscribe", `#product-actions button[data-action="Chat with seller"]`)
	b.run("consumer closes it and searches", consumer,
		b.clickWhenPresent(`document.getElementById("close-product")`),
		chromedp.SetValue(chromedp.ID("q"), "phone club "+suffix),
		b.clickWhenPresent(`document.getElementById("search")`),
		b.until(`document.querySelector("#products").dataset.query === `+jsString("phone club "+suffix)+` && document.querySelector("#products").textContent.includes(`+jsString(title)+`)`),
		// Focusing the search box again loads the history, with the search just made in it.
		chromedp.Poll[chromedp.Void](`(document.activeElement.blur(), document.querySelector("#q").focus(), document.querySelectorAll("#recent-searches li").length > 0)`,
			chromedp.WithPollingInterval(300*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	check("consumer", consumer, "search", "#q", "#search", "#clear-recent", "#recent-searches li .chip", "#recent-searches li .chip-remove", row+" .subscribe")
	b.run("consumer subscribes", consumer,
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#my-subscriptions li.subscription")?.dataset.state === "ACTIVE"`),
		b.until(`document.querySelectorAll("#notifications .notification").length >= 1`),
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-mail").click(), document.querySelectorAll("#mails li").length >= 1)`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)))
	check("consumer", consumer, "subscriptions and notifications", "#my-subscriptions li.subscription .cancel", "#notifications .notification", "#refresh-mail", "#mails li")
	b.run("consumer writes to the seller", consumer,
		b.clickWhenPresent(productButton(title, ".chat-seller")),
		chromedp.WaitVisible(chromedp.ID("room")),
		chromedp.SetValue(chromedp.ID("msg"), "Hello from a phone "+suffix),
		b.clickWhenPresent(`document.getElementById("send")`),
		b.until(`document.querySelector("#messages").textContent.includes("Hello from a phone")`))
	check("consumer", consumer, "chat", "#rooms .room", "#msg", "#send")

	b.run("the seller is told, and answers", seller,
		b.until(`document.querySelectorAll("#notifications .notification").length >= 1`),
		b.until(`document.querySelectorAll("#rooms .room").length === 1`),
		b.clickWhenPresent(`document.querySelector("#rooms .room")`),
		b.until(`document.querySelector("#messages").textContent.includes("Hello from a phone")`),
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-dashboard").click(), document.querySelector("#dashboard details") != null)`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)),
		b.eval(`document.querySelector("#dashboard details").open = true`),
		b.until(`document.querySelector("#dashboard details table") != null || document.querySelector("#dashboard details p") != null`),
		// The figures' table scrolls in its box rather than breaking headings and amounts
		// into pieces: every cell is one line high.
		b.until(`[...document.querySelectorAll("#dashboard .dash-days th, #dashboard .dash-days td")].every(c => c.getBoundingClientRect().height < 28)`))
	check("seller", seller, "chat and dashboard", "#rooms .room", "#msg", "#send", "#refresh-dashboard", "#dashboard details summary", "#notifications .notification")
}
