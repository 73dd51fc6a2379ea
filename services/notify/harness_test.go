package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
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

// fixture is one notify service on the harness: embedded NATS, a fresh PostgreSQL database, an
// in-process SMTP server, a token issuer standing in for auth and a responder standing in for
// the subscription service's subscribers endpoint.
type fixture struct {
	t        testing.TB
	nats     *moatest.NATSServer
	rt       *bus.Runtime
	iss      *authntest.Issuer
	notify   *client.NotifyClient
	smtp     *mailServer
	subs     *fakeSubscriptions
	settings map[string]string
	db       *pgxpool.Pool // for assertions on what is stored, never to drive the service
}

type option func(*fixture)

// withSetting sets a notify setting; "" unsets it.
func withSetting(k, v string) option { return func(f *fixture) { f.settings[k] = v } }

func start(t testing.TB, opts ...option) *fixture {
	t.Helper()
	ns := moatest.NATS(t)
	rt, err := bus.New(ns.Conn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rt.Close(ctx, false)
	})
	f := &fixture{t: t, nats: ns, rt: rt, iss: authntest.NewIssuer(t, rt), notify: client.NewNotifyClient(rt.Client()),
		smtp: startMailServer(t), settings: map[string]string{}}
	f.subs = serveSubscriptions(t, rt)
	f.settings["SMTP_ADDR"] = f.smtp.addr
	f.settings["SMTP_FROM"] = "Moa <no-reply@moa.test>"
	for _, o := range opts {
		o(f)
	}
	pg := moatest.Postgres(t)
	env := bus.Env{Runtime: rt, PostgresURL: pg, Setting: func(k string) string { return f.settings[k] }, Declared: notify.Settings}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	comp, err := notify.Start(ctx, env)
	if err != nil {
		t.Fatalf("notify.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := comp.Stop(ctx); err != nil {
			t.Errorf("notify stop: %v", err)
		}
	})
	if f.db, err = pgxpool.New(ctx, pg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.db.Close)
	return f
}

// as returns a context acting for p.
func (f *fixture) as(p contracts.Principal) context.Context {
	return f.iss.Context(context.Background(), p)
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
	ack, err := f.rt.Publish(context.Background(), subject, env)
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
	env, err := bus.Emit(ctx, f.rt, source, ev, key, data)
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
	ack, err := f.rt.JetStream().PublishMsg(context.Background(), msg)
	if err != nil || ack.Duplicate {
		f.t.Fatalf("republish: %v (duplicate %v)", err, ack != nil && ack.Duplicate)
	}
	return ack.Sequence
}

// handled waits until the durable consumer has acked every message up to stream sequence seq.
func (f *fixture) handled(spec contracts.ConsumerSpec, seq uint64) {
	f.t.Helper()
	moatest.WaitFor(f.t, 20*time.Second, func() error {
		c, err := f.rt.JetStream().Consumer(context.Background(), spec.Stream.Name, spec.Durable)
		if err != nil {
			return err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.AckFloor.Stream < seq {
			return errors.New("consumer " + spec.Durable + " has not acked up to the event yet")
		}
		return nil
	})
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
	if err := f.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// metric returns the value of a counter with the given label in the runtime's registry.
func (f *fixture) metric(name, label, value string) float64 {
	f.t.Helper()
	g, ok := f.rt.Registry().(prometheus.Gatherer)
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

// wantCode asserts that err is the catalogue error want, on field when field is not empty.
func wantCode(t testing.TB, what string, err error, want *contracts.Error, field string) {
	t.Helper()
	var ce *contracts.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: got %v, want %s", what, err, want.Code)
	}
	if ce.Code != want.Code || ce.Field != field {
		t.Fatalf("%s: got %s on field %q (%s), want %s on field %q", what, ce.Code, ce.Field, ce.Message, want.Code, field)
	}
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

// pushes collects the pushes one user's connections would receive, subscribed as an edge is.
type pushes struct {
	t  testing.TB
	ch chan contracts.Push
}

func (f *fixture) pushes(p contracts.Principal) *pushes {
	f.t.Helper()
	subject, err := contracts.PushUserSubject(p.UserID)
	if err != nil {
		f.t.Fatal(err)
	}
	nc := f.nats.Conn(f.t)
	in := &pushes{t: f.t, ch: make(chan contracts.Push, 1024)}
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var p contracts.Push
		if err := json.Unmarshal(m.Data, &p); err != nil {
			f.t.Errorf("push on %s is not a contracts.Push: %v", subject, err)
			return
		}
		in.ch <- p
	}); err != nil {
		f.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		f.t.Fatal(err)
	}
	return in
}

func (in *pushes) next() contracts.Push {
	in.t.Helper()
	select {
	case p := <-in.ch:
		return p
	case <-time.After(20 * time.Second):
		in.t.Fatal("no push within 20s")
		return contracts.Push{}
	}
}
