package e2etest

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/system"
)

// chromium returns the browser to drive, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		// make test installs chromium; in CI a missing browser is a failure, not a skip, so
		// the browser tests can never silently stop running.
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (make test installs it: apt-get install -y chromium)")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium)")
	}
	return p
}

// serveEdge runs an edge on the system's bus behind its own HTTP server and returns its URL.
func serveEdge(t *testing.T, sys *system.System, cfg edge.Config) string {
	t.Helper()
	gw := edge.New(sys.Runtime(), cfg)
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
		srv.Close()
	})
	return srv.URL
}

// browser is one headless Chromium; each tab is a browser context of its own (separate
// storage, like two people on two machines).
type browser struct {
	t        *testing.T
	deadline context.Context
}

func newBrowser(t *testing.T, path string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.Flag("headless", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first run starts the browser and must not have a deadline of its own.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	deadline, cancel := context.WithTimeout(browserCtx, 3*time.Minute)
	t.Cleanup(cancel)
	return &browser{t: t, deadline: deadline}
}

func (b *browser) tab() context.Context {
	ctx, cancel := chromedp.NewContext(b.deadline, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	return ctx
}

// run runs steps in a tab; on failure it shows what the page said.
func (b *browser) run(who string, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.t.Fatalf("%s: %v\npage:\n%s", who, err, dump)
	}
}

// until waits for a JavaScript condition on the page.
func (b *browser) until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// clickWhenPresent waits until the element expr names exists and clicks it in the same
// evaluation, so the page cannot re-render between the wait and the click. Presence is
// `!= null`: querySelector answers null and Array.find answers undefined, and a wait written
// as `!== undefined` is true at once for the null case (the flake TestBrowserWaits guards).
func (b *browser) clickWhenPresent(expr string) chromedp.Action[chromedp.Void] {
	return b.until(`((el) => el != null && (el.click(), true))(` + expr + `)`)
}

func (b *browser) eval(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](expr)
}

// signUp opens the page and signs up a new account of role.
func signUp(url, role, suffix string, until func(string) chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
	name := map[string]string{"seller": "Sam Seller", "consumer": "Cleo Consumer"}[role]
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url + "/"),
		chromedp.WaitVisible(chromedp.ID("auth-form")),
		until(`document.querySelector("#status").textContent === "connected"`),
		chromedp.SetValue(chromedp.ID("email"), role+"-"+suffix+"@example.test"),
		chromedp.SetValue(chromedp.ID("password"), "correct horse battery"),
		chromedp.SetValue(chromedp.ID("display-name"), name),
		chromedp.SetValue(chromedp.ID("role"), role),
		chromedp.Click(chromedp.ID("signup")),
		until(`document.querySelector("#whoami").dataset.role === ` + jsString(role)),
	}
}

// publish has a signed-in seller publish a product.
func publish(title string, until func(string) chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.ID("seller")),
		chromedp.SetValue(chromedp.ID("p-title"), title),
		chromedp.Click(chromedp.ID("publish")),
		until(`document.querySelector("#my-products").textContent.includes(` + jsString(title) + `)`),
	}
}

// screenshotDir is where the browser tests write PNGs of the screens they reach, when
// MOA_SCREENSHOTS is set: a folder per test under moa-screenshots in the tests' temp dir
// (os.TempDir, $TMPDIR), or under MOA_SCREENSHOTS itself when it is an absolute path. Not
// t.TempDir(): that is removed when the test ends, with the pictures. "" when unset.
func screenshotDir(t *testing.T) string {
	v := os.Getenv("MOA_SCREENSHOTS")
	if v == "" {
		return ""
	}
	root := filepath.Join(os.TempDir(), "moa-screenshots")
	if filepath.IsAbs(v) {
		root = v
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshots: %v", err)
	}
	return dir
}

// screenshots saves what each tab shows (the whole page) as <prefix>-<tab>.png, when
// MOA_SCREENSHOTS is set (see screenshotDir).
func (b *browser) screenshots(prefix string, tabs map[string]context.Context) {
	b.t.Helper()
	dir := screenshotDir(b.t)
	if dir == "" {
		return
	}
	for name, tab := range tabs {
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		file := filepath.Join(dir, prefix+"-"+name+".png")
		if err == nil {
			err = os.WriteFile(file, png, 0o644)
		}
		if err != nil {
			b.t.Errorf("screenshot %s: %v", name, err)
			continue
		}
		b.t.Logf("screenshot %s", file)
	}
}

// sessionJS is a JavaScript promise of a BrowserSession of the page's signed-in user, with an
// access token of its own: the page keeps its token in memory, out of the test's reach, and
// the refresh token in an HttpOnly cookie. Refreshing rotates the shared cookie under the same
// lock the page uses, so it never looks like refresh-token reuse.
const sessionJS = `import("/sdk/moa.js").then(async ({ BrowserSession }) => {
	const s = new BrowserSession();
	await s.refresh();
	return s;
})`
