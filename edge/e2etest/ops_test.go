package e2etest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/internal/telemetry"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// TestOperatorSeesTheSagaTimeline runs one subscribe saga in the demo app as moa dev hosts
// it (every service and the edge in one process, recent traces kept in memory), then opens
// the operations page as the operator: it signs in with the operator secret, follows the
// saga's link from the recent traces, and sees the timeline with steps of the subscription,
// catalog, billing and notify services, and the live figures count the activation.
func TestOperatorSeesTheSagaTimeline(t *testing.T) {
	browser := chromium(t)
	rec := telemetry.NewRecorder(telemetry.DefaultRecentTraces)
	traces, err := telemetry.Setup(context.Background(), telemetry.Config{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	sys := systemtest.Boot(t,
		systemtest.Services("auth", "billing", "catalog", "edge", "notify", "subscription"),
		systemtest.Setting("catalog", "CACHE_TTL", "0"),
		systemtest.Setting("auth", system.AuthOperatorSecret, system.DevOperatorSecret),
		systemtest.Configure(func(c *system.Config) { c.TracerProvider = traces.Provider }))
	comp, ok := sys.Component("edge")
	if !ok {
		t.Fatal("the edge did not start")
	}
	// As moa dev does (cmd/moa/internal/cli: enableOps).
	comp.(*edge.Gateway).EnableOps(edge.Ops{Traces: rec, Metrics: sys.Registry(),
		OperatorToken: func(ctx context.Context, secret string) (contracts.OperatorToken, error) {
			return bus.Call(ctx, sys.Client(), contracts.AuthOperatorToken, contracts.OperatorTokenRequest{Secret: secret})
		}})
	url := strings.TrimSuffix(sys.HTTPURL(), "/")

	b := newBrowser(t, browser)
	sellerTab, consumerTab, opsTab := b.tab(), b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Traced tea club " + suffix
	b.run("seller signs up", sellerTab, signUp(url, "seller", suffix, b.until)...)
	b.run("seller publishes", sellerTab, publish(title, b.until)...)
	b.run("consumer subscribes", consumerTab, append(signUp(url, "consumer", suffix, b.until),
		chromedp.SetValue(chromedp.ID("q"), suffix),
		chromedp.Click(chromedp.ID("search")),
		b.clickWhenPresent(productButton(title, ".subscribe")),
		b.until(`document.querySelector("#browse-result").dataset.sub?.length > 0`),
		b.until(`document.querySelector("#my-subscriptions").textContent.includes("ACTIVE")`),
	)...)
	sub, err := chromedp.Run(consumerTab, chromedp.Evaluate[string](`document.querySelector("#browse-result").dataset.sub`))
	if err != nil {
		t.Fatal(err)
	}
	// The seller's page has nothing more to do; its polling would only add traces.
	b.run("seller leaves", sellerTab, chromedp.Navigate("about:blank"))

	// An app user's page cannot read the operations API with its own session.
	status, err := chromedp.Run(consumerTab, chromedp.Evaluate[int](`(async () => {
		const s = JSON.parse(sessionStorage.getItem("moa.session") || "null");
		const r = await fetch("/ops/api/timeline?subscription=`+sub+`", { headers: s ? { Authorization: "Bearer " + s.access_token } : {} });
		return r.status;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || (status != 403 && status != 401) {
		t.Errorf("the consumer's page read the operations API: %d %v", status, err)
	}
	b.run("consumer leaves", consumerTab, chromedp.Navigate("about:blank"))

	steps := `[...document.querySelectorAll("#ops-timeline li.step")]`
	hasAll := `["subscription", "catalog", "billing", "notify"].every(svc => ` + steps + `.some(li => li.dataset.service === svc))`
	// The operator's browser is Korean: the operations page is in Korean, like the app.
	b.run("operator opens the saga's timeline", opsTab,
		koreanBrowser(),
		chromedp.Navigate(url+"/#ops"),
		b.until(`!document.querySelector("#ops").hidden && !document.querySelector("#ops-signin").hidden`),
		b.until(`document.querySelector("#ops-h").textContent === "운영" && document.querySelector("#ops-signin-button").textContent === "운영자로 로그인"`),
		b.until(`document.querySelector("#ops-secret").labels[0].textContent.includes("운영자 비밀 키")`),
		chromedp.SetValue(chromedp.ID("ops-secret"), system.DevOperatorSecret),
		// A click by script, not by the mouse at the button's place: the product list above
		// the operations card may load meanwhile and move the button down, and the mouse
		// would then press nothing. (#ops shown means ops.js is running, listener attached.)
		b.clickWhenPresent(`document.querySelector("#ops-signin-button")`),
		// Signed in when the figures show. A transient failure (a busy machine) is shown
		// on the page, and the operator tries again, as a person would; any other error
		// ends the wait with the page (and its error) in the failure.
		chromedp.Poll[chromedp.Void](`(() => {
			if (!document.querySelector("#ops-body").hidden) return true;
			const e = document.querySelector("#ops-error");
			if (/^(unavailable|timeout|rate_limited)/.test(e.textContent)) {
				e.textContent = "";
				document.querySelector("#ops-signin-button").click();
			}
			return false;
		})()`, chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(60*time.Second)),
		// The saga's trace is among the recent ones, linked by its subscription id (in Korean).
		chromedp.Poll[chromedp.Void](`document.querySelector('#ops-traces a.saga-link[data-key="`+sub+`"]')?.textContent === `+jsString(sub+" 타임라인"),
			chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
		b.clickWhenPresent(`document.querySelector('#ops-traces a.saga-link[data-key="`+sub+`"]')`),
		b.until(`document.querySelector("#ops-timeline").dataset.key === `+jsString(sub)),
		// notify's hop ends after the subscription turned active: read the timeline again
		// until every service is in.
		chromedp.Poll[chromedp.Void](`(`+hasAll+`) || (document.querySelector("#ops-show").click(), false)`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)),
		// The live figures have counted the activation.
		b.until(`document.querySelector('#ops-charts svg[data-figure="activated"] text')?.textContent === "활성화된 구독: 1"`),
		b.until(`document.querySelectorAll('#ops-charts svg polyline').length >= 3`),
	)
	b.run("the operations page speaks Korean, and English after the switch", opsTab,
		// The list keeps the last 50 traces, and the saga's may have left it by now: any will do.
		b.until(`document.querySelector("#ops-traces li.trace .meta")?.textContent.includes("스팬 ")`),
		b.until(`document.querySelector("#ops-timeline p").textContent.startsWith("트레이스 ")`),
		b.until(`[...document.querySelectorAll("#ops-body h3")].map(h => h.textContent).join("|") === "실시간 지표|사가 타임라인|최근 트레이스"`),
	)
	b.screenshots("ops-korean", map[string]context.Context{"operator": opsTab})
	b.run("the switch redraws it in English", opsTab,
		chromedp.SetValue(chromedp.ID("lang"), "en"),
		b.eval(`document.querySelector("#lang").dispatchEvent(new Event("change"))`),
		b.until(`document.querySelector("#ops-h").textContent === "Operations"`),
		b.until(`document.querySelector('#ops-charts svg[data-figure="activated"] text')?.textContent === "Subscriptions activated: 1"`),
		b.until(`/ \d+ spans, /.test(document.querySelector("#ops-traces li.trace .meta")?.textContent)`),
		b.until(`/^\d+ steps over /.test(document.querySelector("#ops-timeline p").textContent)`),
	)
	lines, err := chromedp.Run(opsTab, chromedp.Evaluate[[]string](steps+`.map(li => li.innerText.replace(/\s+/g, " ").trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "outbox publish catalog.seat_reserved") {
		t.Errorf("no outbox hop of catalog.seat_reserved on the timeline")
	}
	summary, _ := chromedp.Run(opsTab, chromedp.Evaluate[string](`document.querySelector("#ops-timeline p").textContent`))
	t.Logf("saga %s: %s", sub, summary)
	for _, l := range lines {
		t.Logf("  %s", l)
	}
	b.screenshots("ops", map[string]context.Context{"operator": opsTab})
}
