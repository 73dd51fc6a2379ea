// Package e2etest runs the edge end to end with the real services (PostgreSQL, MongoDB wire
// server and NATS from moatest). The browser tests drive the demo page in headless Chromium,
// a seller and a consumer each in a browser context of their own: browser_test.go has them
// chat while the consumer's notifications (from an in-test notify responder, which can lose a
// push on purpose) show the SDK resuming after a gap; subscribe_test.go has the consumer
// subscribe through the real saga and notify services. market_test.go walks the rest of the
// marketplace page with the real services: currency refusal, paging past 20 products, the
// product page and its view count, the seller's edit/delete and terms change (the
// subscriber's notification and mail), the saga's steps live, search history, labels and
// keyboard use (the focus surviving a live re-render). phone_test.go walks the main screens at a
// phone's width. chat_test.go runs chat through two edge instances. blog_test.go walks the blog
// at /blog with the real post service: a writer publishes (a script in the markdown never runs),
// a reader reads anonymously, then comments; the writer replies and moderates. With MOA_SCREENSHOTS set, the
// tests write PNGs of the screens they reach (browser_helpers_test.go: screenshotDir).
package e2etest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/edge"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/chat"
	"github.com/moa-run/moa/system"
	"github.com/moa-run/moa/system/systemtest"
)

func TestMain(m *testing.M) { moatest.Main(m) }

const chromiumPath = "/usr/bin/chromium"

func TestSellerAndConsumerChatAndConsumerIsNotified(t *testing.T) {
	browser := chromium(t)
	notify := &notifyStore{items: map[string][]contracts.Notification{}}
	reg := map[string]system.Registration{"notify": {Start: notify.Start}}
	for _, n := range []string{"auth", "catalog"} {
		r, ok := system.Lookup(n)
		if !ok {
			t.Fatalf("service %s is not registered", n)
		}
		reg[n] = r
	}
	reg["chat"] = system.Registration{Start: chat.Start, Mongo: true}
	sys := systemtest.Boot(t,
		systemtest.Configure(func(c *system.Config) { c.Registry = reg; c.Services = nil }),
		systemtest.Setting("catalog", "CACHE_TTL", "0"))
	url := serveEdge(t, sys, edge.Config{})
	b := newBrowser(t, browser)
	sellerTab, consumerTab := b.tab(), b.tab()
	run, until := b.run, b.until
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Tea club " + suffix

	run("seller signs up and publishes", sellerTab, signUp(url, "seller", suffix, until)...)
	run("seller publishes", sellerTab, publish(title, until)...)

	// The consumer signs up, finds it by searching, and opens a chat about it.
	run("consumer signs up and writes", consumerTab,
		append(signUp(url, "consumer", suffix, until),
			chromedp.SetValue(chromedp.ID("q"), suffix),
			chromedp.Click(chromedp.ID("search")),
			b.clickWhenPresent(productButton(title, ".chat-seller")),
			chromedp.WaitVisible(chromedp.ID("room")),
			until(`document.querySelector("#presence").textContent === "online"`),
			chromedp.SetValue(chromedp.ID("msg"), "Hi! Is the tea organic?"),
			chromedp.Click(chromedp.ID("send")),
			until(`document.querySelector("#messages").textContent.includes("Is the tea organic?")`),
		)...)

	// The seller's room list updates live; the seller opens the room, reads and answers, and
	// the consumer sees the answer, the typing signal before it, and the read receipt.
	run("seller answers", sellerTab,
		until(`document.querySelectorAll("#rooms .room").length === 1`),
		b.clickWhenPresent(`document.querySelector("#rooms .room")`),
		until(`document.querySelector("#messages").textContent.includes("Is the tea organic?")`),
		chromedp.SendKeys(chromedp.ID("msg"), "Yes"),
	)
	run("consumer sees typing and the read receipt", consumerTab,
		until(`document.querySelector("#typing").textContent === "typing…"`),
		until(`document.querySelector("#messages .msg.mine .seen") !== null`),
	)
	run("seller sends", sellerTab,
		chromedp.SendKeys(chromedp.ID("msg"), ", fully organic."),
		chromedp.Click(chromedp.ID("send")),
	)
	run("consumer reads the answer", consumerTab,
		until(`document.querySelector("#messages").textContent.includes("Yes, fully organic.")`),
	)

	// Notifications: one pushed live; then 2 is stored but its push lost, and 3 arrives: the
	// SDK sees the gap, resumes, and shows 2 and 3 in order.
	consumerID, err := chromedp.Run(consumerTab, chromedp.Evaluate[string](sessionJS+`.then((s) => s.user.id)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	notify.add(t, consumerID, "Your subscription is active", true)
	run("consumer is notified", consumerTab,
		until(`document.querySelector("#notifications").textContent.includes("Your subscription is active")`))
	notify.add(t, consumerID, "Payment received", false)
	notify.add(t, consumerID, "Seller replied", true)
	run("consumer catches up after a gap", consumerTab,
		until(`document.querySelectorAll("#notifications .notification").length === 3`))
	seqs, err := chromedp.Run(consumerTab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#notifications .notification")].map(li => li.dataset.seq)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seqs, ",") != "3,2,1" { // newest on top
		t.Fatalf("notifications shown as %v, want 3,2,1", seqs)
	}
	b.screenshots("chat", map[string]context.Context{"seller": sellerTab, "consumer": consumerTab})
}

// productButton finds a button of the product with the given title in the product list.
func productButton(title, selector string) string {
	return `[...document.querySelectorAll("#products li")].find(li => li.textContent.includes(` + jsString(title) + `))?.querySelector("` + selector + `")`
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// notifyStore plays the notify service: notify.v1.since over an in-memory store, and pushes
// like the real one will (contracts.PushTopicNotification with the sequence).
type notifyStore struct {
	mu    sync.Mutex
	items map[string][]contracts.Notification
	rt    *bus.Runtime
}

func (s *notifyStore) Start(_ context.Context, env bus.Env) (bus.Component, error) {
	s.rt = env.Runtime
	svc, err := env.Runtime.AddService(contracts.NotifyService)
	if err != nil {
		return nil, err
	}
	v := authn.NewVerifier(env.Runtime.Client())
	svc.UseVerifier(v) // the bus checks the contract's access with it
	err = bus.Handle(svc, contracts.NotifySince, func(ctx context.Context, r contracts.NotifySinceReq) (contracts.NotifySinceResp, error) {
		p, err := v.FromContext(ctx)
		if err != nil {
			return contracts.NotifySinceResp{}, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		resp := contracts.NotifySinceResp{Items: []contracts.Notification{}, Recoverable: true}
		for _, n := range s.items[p.UserID] {
			resp.LastSeq = n.Seq
			if n.Seq > r.Since {
				resp.Items = append(resp.Items, n)
			}
		}
		return resp, nil
	})
	if err != nil {
		return nil, err
	}
	return bus.Stopper(func(context.Context) error { return svc.Micro().Stop() }), nil
}

func (s *notifyStore) add(t *testing.T, userID, title string, push bool) {
	t.Helper()
	s.mu.Lock()
	n := contracts.Notification{Seq: uint64(len(s.items[userID]) + 1), Kind: "test", Title: title, Body: title, CreatedAt: time.Now().UTC()}
	s.items[userID] = append(s.items[userID], n)
	s.mu.Unlock()
	if !push {
		return
	}
	body, _ := json.Marshal(n)
	msg, _ := json.Marshal(contracts.Push{Topic: contracts.PushTopicNotification, Seq: n.Seq, Body: body})
	subject, err := contracts.PushUserSubject(userID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.rt.Conn().Publish(subject, msg); err != nil {
		t.Fatal(err)
	}
}
