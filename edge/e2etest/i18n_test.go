package e2etest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

// koreanBrowser makes the tab a Korean user's browser: Intl's default locale (the locale
// override) and navigator.language(s), which the page reads to choose its language (set by a
// script that runs before the page's own in every document the tab loads).
func koreanBrowser() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "ko_KR"}); err != nil {
			return fmt.Errorf("locale override: %w", err)
		}
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			Object.defineProperty(Navigator.prototype, "language", { get: () => "ko-KR", configurable: true });
			Object.defineProperty(Navigator.prototype, "languages", { get: () => ["ko-KR", "ko", "en-US"], configurable: true });`})
		return err
	})
}

// TestBrowserKoreanAndEnglish opens the page in a Korean browser (Korean text, Korean money and
// counts in the lists), switches to English with the header's switch (English, as the page
// always read), reloads (the choice stays, over the browser's language), and checks that an
// English browser gets English without choosing.
func TestBrowserKoreanAndEnglish(t *testing.T) {
	browser := chromium(t)
	reg := map[string]system.Registration{}
	for _, n := range []string{"auth", "catalog"} {
		r, ok := system.Lookup(n)
		if !ok {
			t.Fatalf("service %s is not registered", n)
		}
		reg[n] = r
	}
	sys := systemtest.Boot(t,
		systemtest.Configure(func(c *system.Config) { c.Registry = reg; c.Services = nil }),
		systemtest.Setting("catalog", "CACHE_TTL", "0"))
	url := serveEdge(t, sys, edge.Config{})
	b := newBrowser(t, browser)
	run, until := b.run, b.until
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Hangul club " + suffix
	text := func(id, want string) chromedp.Action[chromedp.Void] {
		return until(`document.getElementById(` + jsString(id) + `).textContent === ` + jsString(want))
	}

	ko := b.tab()
	run("a Korean browser gets Korean", ko,
		koreanBrowser(),
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.ID("auth-form")),
		until(`document.querySelector("#status").classList.contains("online")`),
		until(`document.documentElement.lang === "ko" && document.querySelector("#lang").value === "ko"`),
		text("status", "연결됨"),
		text("signin", "로그인"),
		text("signup", "회원가입"),
		text("browse-h", "상품 둘러보기"),
		text("whoami", "로그인하지 않음"),
		until(`document.querySelector("#q").closest("label").textContent.includes("상품 검색")`),
		until(`document.querySelector("#display-name").placeholder === "회원가입할 때만 입력"`),
		// The period's option is shown in Korean and still sends its value.
		until(`document.querySelector('#p-period option[value="monthly"]').textContent === "매월"`),
	)
	run("a Korean seller signs up and publishes", ko,
		chromedp.SetValue(chromedp.ID("email"), "seller-"+suffix+"@example.test"),
		chromedp.SetValue(chromedp.ID("password"), "correct horse battery"),
		chromedp.SetValue(chromedp.ID("display-name"), "김판매"),
		chromedp.SetValue(chromedp.ID("role"), "seller"),
		chromedp.Click(chromedp.ID("signup")),
		until(`document.querySelector("#whoami").dataset.role === "seller"`),
		text("whoami", "김판매 (판매자)"),
		chromedp.WaitVisible(chromedp.ID("seller")),
		chromedp.SetValue(chromedp.ID("p-title"), title),
		chromedp.Click(chromedp.ID("publish")),
		text("publish-result", "“"+title+"” 상품을 등록했습니다."),
		until(`document.querySelector("#my-products").textContent.includes("구독 0/100명")`),
		// KRW in Korean: ₩5,900 per month, in the catalog list as well.
		until(`[...document.querySelectorAll("#products li.product")].some((li) => li.textContent.includes(`+jsString(title)+`) && li.textContent.includes("₩5,900 / 월") && li.textContent.includes("조회 0회"))`),
		// Delete asks twice, in Korean: the button's state is read from its (translated) text.
		b.clickWhenPresent(`document.querySelector("#my-products li.my-product button.edit")`),
		chromedp.WaitVisible(chromedp.ID("edit-form")),
		until(`document.querySelector("#edit-h").textContent.startsWith("수정")`),
		chromedp.Click(chromedp.ID("delete-product")),
		text("delete-product", "삭제 확인"),
		text("edit-result", "한 번 더 누르면 이 상품이 삭제됩니다."),
		chromedp.Click(chromedp.ID("cancel-edit")),
		text("delete-product", "삭제"),
	)
	// The Korean screen, for a look (MOA_SCREENSHOTS): make test installs a CJK font for it.
	b.screenshots("korean", map[string]context.Context{"seller": ko})
	run("the switch turns the page English", ko,
		chromedp.SetValue(chromedp.ID("lang"), "en"),
		b.eval(`document.querySelector("#lang").dispatchEvent(new Event("change"))`),
		until(`document.documentElement.lang === "en"`),
		text("status", "connected"),
		text("browse-h", "Browse"),
		text("signout", "Sign out"),
		text("whoami", "김판매 (seller)"),
		until(`document.querySelector("#my-products").textContent.includes("0/100 seats")`),
		until(`[...document.querySelectorAll("#products li.product")].some((li) => li.textContent.includes(`+jsString(title)+`) && li.textContent.includes("/ monthly") && li.textContent.includes("0 views"))`),
	)
	run("the choice outlives a reload in the Korean browser", ko,
		chromedp.Navigate(url+"/"),
		until(`document.querySelector("#status").classList.contains("online")`),
		until(`document.querySelector("#whoami").dataset.role === "seller"`),
		until(`document.documentElement.lang === "en" && document.querySelector("#lang").value === "en"`),
		text("status", "connected"),
		text("browse-h", "Browse"),
		text("whoami", "김판매 (seller)"),
		// And back to Korean, which a reload keeps too.
		chromedp.SetValue(chromedp.ID("lang"), "ko"),
		b.eval(`document.querySelector("#lang").dispatchEvent(new Event("change"))`),
		text("browse-h", "상품 둘러보기"),
		chromedp.Navigate(url+"/"),
		until(`document.querySelector("#status").classList.contains("online")`),
		text("browse-h", "상품 둘러보기"),
		text("signout", "로그아웃"),
	)

	en := b.tab()
	run("an English browser gets English without choosing", en,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.ID("auth-form")),
		text("status", "connected"),
		until(`document.documentElement.lang === "en" && document.querySelector("#lang").value === "en"`),
		text("signin", "Sign in"),
		text("browse-h", "Browse"),
		text("whoami", "not signed in"),
	)
}
