package notify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/notify"
	"github.com/moa-run/moa/services/notify/ports"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// fixture is one notify service on the service kit (embedded NATS, a fresh PostgreSQL database
// in Kit.Postgres for assertions only, a token issuer standing in for auth), an in-process SMTP
// server, and a responder standing in for the subscription service's subscribers endpoint.
type fixture struct {
	*moatest.Kit[bus.Component]
	t      testing.TB
	notify *client.NotifyClient
	smtp   *mailServer
	subs   *fakeSubscriptions
	errs   *moatest.ErrorLog // the service's and the runtime's ERROR records
}

// option changes notify's settings (keys without MOA_NOTIFY_).
type option func(settings map[string]string)

// withSetting sets a notify setting; "" unsets it.
func withSetting(k, v string) option { return func(s map[string]string) { s[k] = v } }

func start(t testing.TB, opts ...option) *fixture {
	t.Helper()
	smtp := startMailServer(t)
	settings := map[string]string{"SMTP_ADDR": smtp.addr, "SMTP_FROM": "Moa <no-reply@moa.test>"}
	for _, o := range opts {
		o(settings)
	}
	ns := moatest.NATS(t)
	// The subscription service is another service: it answers on a connection of its own.
	subs := serveSubscriptions(t, moatest.Runtime(t, ns))
	errs := &moatest.ErrorLog{}
	k := moatest.Service(t, notify.Start, moatest.With{NATS: ns, Postgres: true, Settings: settings, Declared: notify.Settings,
		Logger: slog.New(errs)})
	return &fixture{Kit: k, t: t, notify: k.Client.Notify, smtp: smtp, subs: subs, errs: errs}
}

// as returns a context acting for p.
func (f *fixture) as(p contracts.Principal) context.Context {
	return f.As(context.Background(), p)
}

// signup publishes auth's signup event for p and waits until notify has p's address in its
// directory (the event travels on another stream than the ones tests then publish on).
func (f *fixture) signup(p contracts.Principal) {
	f.t.Helper()
	publish(f, ports.DirectoryConsumer, "auth", contracts.AuthUserSignedUp, p.UserID,
		contracts.UserSignedUp{UserID: p.UserID, Email: p.Email, Role: p.Role, DisplayName: p.DisplayName})
}

// users returns n consumers that signed up.
func (f *fixture) consumers(n int) []contracts.Principal {
	out := make([]contracts.Principal, n)
	for i := range out {
		out[i] = authntest.Consumer()
		f.signup(out[i])
	}
	return out
}

// product publishes the catalog's product_created for a new product of seller and waits until
// notify knows it (it comes on another stream than the saga's events, so it could otherwise be
// handled after them: the notification would then name the product by id), and returns its id.
func (f *fixture) product(seller contracts.Principal, title string) string {
	f.t.Helper()
	id := uuid.NewString()
	publish(f, ports.CatalogConsumer, "catalog", contracts.ProductCreated, id, contracts.ProductCreatedData{
		Product: contracts.Product{ID: id, SellerID: seller.UserID, Title: title, PriceAmount: 999, Currency: "EUR", Version: 1, TermsVersion: 1}})
	return id
}

// publish emits an event and waits until the consumer has handled it.
func publish[T any](f *fixture, c contracts.ConsumerSpec, source string, ev contracts.Event[T], key string, data T) {
	f.t.Helper()
	env, subject, err := bus.NewEnvelope(context.Background(), nil, source, ev, key, data)
	if err != nil {
		f.t.Fatal(err)
	}
	ack, err := f.Runtime.Publish(context.Background(), subject, env)
	if err != nil {
		f.t.Fatal(err)
	}
	f.handled(c, ack.Sequence)
}

// terminal builds a terminal event's data for a new subscription.
func terminal(productID string, consumer, seller contracts.Principal, state contracts.SubscriptionState) contracts.SubscriptionTerminalData {
	return contracts.SubscriptionTerminalData{SubscriptionID: uuid.NewString(), ProductID: productID, ConsumerID: consumer.UserID,
		SellerID: seller.UserID, State: state, AmountMinor: 999, Currency: "EUR"}
}

func emit[T any](f *fixture, source string, ev contracts.Event[T], key string, data T) contracts.Envelope {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env, err := bus.Emit(ctx, f.Runtime, source, ev, key, data)
	if err != nil {
		f.t.Fatalf("emit %s: %v", ev.Type(), err)
	}
	return env
}

// redeliver publishes env again under a new Nats-Msg-Id, so the stream stores it a second time
// (as a replay or a re-publish past the duplicate window would), and returns its stream
// sequence.
func (f *fixture) redeliver(subject string, env contracts.Envelope) uint64 {
	f.t.Helper()
	msg, err := bus.EnvelopeMsg(subject, env)
	if err != nil {
		f.t.Fatal(err)
	}
	msg.Header.Set(jetstream.MsgIDHeader, env.ID+"-again")
	ack, err := f.Runtime.JetStream().PublishMsg(context.Background(), msg)
	if err != nil || ack.Duplicate {
		f.t.Fatalf("republish: %v (duplicate %v)", err, ack != nil && ack.Duplicate)
	}
	return ack.Sequence
}

// handled waits until the durable consumer has settled every message up to stream sequence seq.
func (f *fixture) handled(spec contracts.ConsumerSpec, seq uint64) {
	f.t.Helper()
	f.WaitConsumed(f.t, spec.Stream.Name, spec.Durable, seq)
}

// since calls notify.v1.since as p.
func (f *fixture) since(p contracts.Principal, seq uint64) contracts.NotifySinceResp {
	f.t.Helper()
	r, err := f.notify.Since(f.as(p), seq)
	if err != nil {
		f.t.Fatalf("since(%d): %v", seq, err)
	}
	return r
}

// waitNotifications waits until p has n notifications and returns them.
func (f *fixture) waitNotifications(p contracts.Principal, n int) []contracts.Notification {
	f.t.Helper()
	var r contracts.NotifySinceResp
	moatest.WaitFor(f.t, 20*time.Second, func() error {
		r = f.since(p, 0)
		if int(r.LastSeq) < n {
			return errors.New("not yet")
		}
		return nil
	})
	if !r.Recoverable || len(r.Items) != n {
		f.t.Fatalf("%s: got %d notifications (last seq %d, recoverable %v), want %d", p.UserID, len(r.Items), r.LastSeq, r.Recoverable, n)
	}
	return r.Items
}

// count runs a count query on notify's database.
func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.Postgres.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// metric returns the value of a counter with the given label in the runtime's registry.
func (f *fixture) metric(name, label, value string) float64 {
	f.t.Helper()
	g, ok := f.Runtime.Registry().(prometheus.Gatherer)
	if !ok {
		f.t.Fatal("the runtime's registry cannot be gathered")
	}
	families, err := g.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// fakeSubscriptions serves subscription.v1.subscribers from a map: a test double for another
// service. fail makes the next calls fail as if the service were unavailable.
type fakeSubscriptions struct {
	mu    sync.Mutex
	subs  map[string][]string
	fail  atomic.Int32
	calls atomic.Int64
}

func serveSubscriptions(t testing.TB, rt *bus.Runtime) *fakeSubscriptions {
	t.Helper()
	fs := &fakeSubscriptions{subs: map[string][]string{}}
	svc, err := rt.AddService(contracts.SubscriptionService)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Micro().Stop() })
	err = bus.Handle(svc, contracts.SubscriptionSubscribers, func(_ context.Context, r contracts.ProductRefID) (contracts.Subscribers, error) {
		fs.calls.Add(1)
		if fs.fail.Load() > 0 {
			fs.fail.Add(-1)
			return contracts.Subscribers{}, contracts.ErrUnavailable.Msg("subscription store is down (test)")
		}
		fs.mu.Lock()
		defer fs.mu.Unlock()
		return contracts.Subscribers{ProductID: r.ProductID, ConsumerIDs: append([]string{}, fs.subs[r.ProductID]...)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func (fs *fakeSubscriptions) set(productID string, users ...contracts.Principal) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, u := range users {
		fs.subs[productID] = append(fs.subs[productID], u.UserID)
	}
}

// mailServer is an in-process SMTP server (emersion/go-smtp) that keeps what it accepts.
// reject, when set, answers a recipient with an SMTP error instead.
type mailServer struct {
	addr   string
	mu     sync.Mutex
	mails  []received
	reject func(to string) *smtp.SMTPError
}

// received is one accepted mail, parsed, with its body decoded.
type received struct {
	From, To []string
	Header   mail.Header
	Body     string
}

func startMailServer(t testing.TB) *mailServer {
	t.Helper()
	ms := &mailServer{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{srv: ms}, nil }))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return ms
}

func (ms *mailServer) setReject(fn func(to string) *smtp.SMTPError) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.reject = fn
}

// to returns the mails received for addr.
func (ms *mailServer) to(addr string) []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out []received
	for _, m := range ms.mails {
		for _, a := range m.To {
			if a == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

func (ms *mailServer) total() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return len(ms.mails)
}

// waitMail waits for the first mail to addr.
func (ms *mailServer) waitMail(t testing.TB, addr string) received {
	t.Helper()
	var got []received
	moatest.Eventually(t, 20*time.Second, func() bool { got = ms.to(addr); return len(got) > 0 }, "no mail to "+addr)
	return got[0]
}

type session struct {
	srv  *mailServer
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	reject := s.srv.reject
	s.srv.mu.Unlock()
	if reject != nil {
		if err := reject(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(msg.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.mails = append(s.srv.mails, received{From: []string{s.from}, To: append([]string{}, s.to...), Header: msg.Header,
		Body: strings.ReplaceAll(string(b), "\r\n", "\n")})
	return nil
}
