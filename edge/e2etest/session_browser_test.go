package e2etest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// accessTTL is the access tokens' lifetime in the tabs test: short, so that the tabs refresh
// every few seconds (the edge warns expiryWarning before expiry and the SDK refreshes), and a
// connection that missed a refresh would be closed by the edge within the test.
const (
	accessTTL     = 6 * time.Second
	expiryWarning = 4 * time.Second
)

// refreshWatch counts a tab's answers from the edge's session/refresh endpoint, as the browser
// saw them (DevTools network events): the page's own refreshes and the test's.
type refreshWatch struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
}

func watchRefreshes(t *testing.T, tab context.Context) *refreshWatch {
	t.Helper()
	w := &refreshWatch{}
	err := chromedp.Listen(tab, func(ev any) {
		r, ok := ev.(*network.EventResponseReceived)
		if !ok || !strings.HasSuffix(r.Response.URL, "/session/refresh") {
			return
		}
		if r.Response.Status == 200 {
			w.ok.Add(1)
			return
		}
		w.failed.Add(1)
		w.mu.Lock()
		w.failures = append(w.failures, r.Response.StatusText)
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// watchDisconnects counts, in the page, every time the status line says the WebSocket closed:
// a tab whose token expired unrefreshed, or that was signed out, is closed by the edge.
const watchDisconnects = `(() => {
	window.testDisconnects = 0;
	const s = document.querySelector("#status");
	new MutationObserver(() => { if (s.textContent.startsWith("disconnected")) window.testDisconnects++; })
		.observe(s, { childList: true, characterData: true, subtree: true });
	return true;
})()`

// raceRefreshes has several BrowserSessions of the page refresh at the same moment, each as a
// tab of its own would (no shared in-flight promise); it resolves with how many succeeded.
const raceRefreshes = `import("/sdk/moa.js").then(({ BrowserSession }) =>
	Promise.all([1, 2, 3].map(() => new BrowserSession().refresh().then(() => 1, (e) => { console.error(e); return 0; }))))
	.then((a) => a.reduce((x, y) => x + y, 0))`

// bootShortTokens runs auth and the catalog behind an edge, with access tokens of accessTTL.
func bootShortTokens(t *testing.T) string {
	t.Helper()
	sys := systemtest.Boot(t,
		systemtest.Configure(func(c *system.Config) {
			auth, _ := system.Lookup("auth")
			catalog, _ := system.Lookup("catalog")
			c.Registry = map[string]system.Registration{"auth": auth, "catalog": catalog}
			c.Services = nil
		}),
		systemtest.Setting("auth", "ACCESS_TOKEN_TTL", accessTTL.String()))
	return serveEdge(t, sys, edge.Config{ExpiryWarning: expiryWarning})
}

// TestSessionSharedAcrossTabs: two tabs of one browser share the session. Signed in in tab 1,
// tab 2 opens signed in as the same user; both keep refreshing (short access tokens, and
// deliberately at the same moment) without tripping refresh-token reuse detection; signing
// out in tab 1 signs tab 2 out.
func TestSessionSharedAcrossTabs(t *testing.T) {
	browser := chromium(t)
	url := bootShortTokens(t)
	b := newBrowser(t, browser)
	until, run := b.until, b.run

	tab1 := b.tab()
	w1 := watchRefreshes(t, tab1)
	run("tab 1 signs up", tab1, signUp(url, "consumer", "tabs", until)...)
	// The page asked for the browser's session on load, before signing up: that one was
	// refused (not signed in), and is the only refusal there may be.
	failedBefore := w1.failed.Load()
	who, err := chromedp.Run(tab1, chromedp.Evaluate[string](`document.querySelector("#whoami").textContent`))
	if err != nil {
		t.Fatal(err)
	}

	// A second tab of the same browser (same browser context: same cookies).
	tab2, cancel := chromedp.NewContext(tab1)
	t.Cleanup(cancel)
	w2 := watchRefreshes(t, tab2)
	run("tab 2 opens signed in as the same user", tab2,
		chromedp.Navigate(url+"/"),
		until(`document.querySelector("#whoami").textContent === `+jsString(who)+
			` && document.querySelector("#status").textContent === "connected"`),
		chromedp.WaitNotVisible(chromedp.ID("auth-form")),
	)
	// The refresh token is out of JavaScript's reach.
	for _, tab := range []context.Context{tab1, tab2} {
		cookies, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`))
		if err != nil || strings.Contains(cookies, edge.SessionCookie) {
			t.Fatalf("document.cookie = %q, %v", cookies, err)
		}
		run("watch the status", tab, b.eval(watchDisconnects))
	}

	// Both tabs refresh at the same moment, three times each: serialised, none is reuse.
	var wg sync.WaitGroup
	raced := make([]int, 2)
	errs := make([]error, 2)
	for i, tab := range []context.Context{tab1, tab2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raced[i], errs[i] = chromedp.Run(tab, chromedp.Evaluate[int](raceRefreshes, chromedp.EvalAwaitPromise))
		}()
	}
	wg.Wait()
	for i := range raced {
		if errs[i] != nil || raced[i] != 3 {
			t.Fatalf("tab %d: %d of 3 racing refreshes succeeded (%v)", i+1, raced[i], errs[i])
		}
	}

	// And the pages refresh by themselves, past several access-token lifetimes: each tab's
	// connection outlives the tokens it started with only by refreshing on the edge's warning.
	start1, start2 := w1.ok.Load(), w2.ok.Load()
	ctx, stop := context.WithTimeout(context.Background(), 60*time.Second)
	defer stop()
	if err := moatest.Poll(ctx, 200*time.Millisecond, func() error {
		if w1.ok.Load()-start1 < 3 || w2.ok.Load()-start2 < 3 {
			return context.DeadlineExceeded
		}
		return nil
	}); err != nil {
		t.Fatalf("the tabs did not keep refreshing: tab 1 %d, tab 2 %d refreshes since the race", w1.ok.Load()-start1, w2.ok.Load()-start2)
	}
	for i, w := range []*refreshWatch{w1, w2} {
		if n := w.failed.Load() - []int64{failedBefore, 0}[i]; n != 0 {
			w.mu.Lock()
			t.Fatalf("tab %d: %d refreshes failed: %v", i+1, n, w.failures)
		}
	}
	for _, tab := range []context.Context{tab1, tab2} {
		run("still signed in and connected", tab,
			until(`document.querySelector("#whoami").textContent === `+jsString(who)+
				` && document.querySelector("#status").textContent === "connected" && window.testDisconnects === 0`))
	}

	// Sign out in tab 1: both tabs start over (reload) and show signed out, and the session is
	// gone for good.
	for _, tab := range []context.Context{tab1, tab2} {
		run("mark the page", tab, b.eval(`window.testBeforeSignOut = true`))
	}
	run("tab 1 signs out", tab1, chromedp.Click(chromedp.ID("signout")))
	signedOut := `!("testBeforeSignOut" in window) && document.querySelector("#whoami").textContent === "not signed in"` +
		` && document.querySelector("#status").textContent === "connected" && !document.querySelector("#auth").hidden`
	afterReload(t, "tab 1 shows signed out", tab1, signedOut)
	afterReload(t, "tab 2 shows signed out", tab2, signedOut)
	restored, err := chromedp.Run(tab2, chromedp.Evaluate[bool](`import("/sdk/moa.js").then(({ BrowserSession }) => new BrowserSession().restore()).then((u) => u !== null)`, chromedp.EvalAwaitPromise))
	if err != nil || restored {
		t.Fatalf("after signing out, the browser still has a session (%v, %v)", restored, err)
	}
}

// afterReload waits until expr is true on the tab's page while the page reloads: each check is
// a short evaluation of its own, since one that spans the reload fails with the navigation.
func afterReload(t *testing.T, what string, tab context.Context, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	err := moatest.Poll(ctx, 100*time.Millisecond, func() error {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		if err == nil && !ok {
			err = context.DeadlineExceeded
		}
		last = err
		return err
	})
	if err != nil {
		dump, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: %v (last: %v)\npage:\n%s", what, err, last, dump)
	}
}

// TestSessionEndedElsewhere: the session is revoked outside the browser (signed out from
// another device that holds the same session, here the test with the browser's own cookie): the
// tabs find out at their next refresh and show signed out.
func TestSessionEndedElsewhere(t *testing.T) {
	browser := chromium(t)
	url := bootShortTokens(t)
	b := newBrowser(t, browser)
	tab1 := b.tab()
	b.run("tab 1 signs up", tab1, signUp(url, "seller", "elsewhere", b.until)...)
	tab2, cancel := chromedp.NewContext(tab1)
	t.Cleanup(cancel)
	b.run("tab 2 opens signed in", tab2, chromedp.Navigate(url+"/"),
		b.until(`document.querySelector("#whoami").dataset.role === "seller" && document.querySelector("#status").textContent === "connected"`))

	// The browser's cookie, as the browser holds it.
	res, err := chromedp.Call(tab1, network.GetCookies, network.GetCookiesParams{URLs: []string{url + "/session/refresh"}})
	if err != nil {
		t.Fatal(err)
	}
	var cookie *network.Cookie
	for _, c := range res.Cookies {
		if c.Name == edge.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HTTPOnly || cookie.SameSite != network.CookieSameSiteStrict || cookie.Path != "/session" {
		t.Fatalf("the browser's session cookie: %+v", cookie)
	}
	for _, tab := range []context.Context{tab1, tab2} {
		b.run("mark the page", tab, b.eval(`window.testBeforeSignOut = true`))
	}
	if out := sessionPost(t, url, "logout", cookie.Value, nil, nil); out.status != http.StatusOK {
		t.Fatalf("logout: %d %s", out.status, out.raw)
	}
	signedOut := `!("testBeforeSignOut" in window) && document.querySelector("#whoami").textContent === "not signed in"` +
		` && !document.querySelector("#auth").hidden`
	afterReload(t, "tab 1 shows signed out", tab1, signedOut)
	afterReload(t, "tab 2 shows signed out", tab2, signedOut)
}
