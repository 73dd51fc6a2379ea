package bus

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
)

// Fallback produces a reply when a call failed because the dependency could not serve it
// (error kinds unavailable, timeout, internal; never when the caller canceled, never for
// answers like not_found). err is the call's final error. Returning an error (or a nil reply)
// declines: the caller then gets the original error.
//
// ctx is the call's context, whose deadline may already have passed: a fallback answers from
// what the caller has at hand (a cache, a default), it does not make another slow call.
// Its reply is marked degraded: Reply.Degraded and header Moa-Degraded: true.
type Fallback func(ctx context.Context, req *Request, err error) (*Reply, error)

// fallbackWanted reports whether err is a failure a fallback may cover.
func fallbackWanted(err error) bool {
	ce := contracts.AsError(err)
	if ce.Code == contracts.ErrCanceled.Code {
		return false
	}
	switch ce.Kind {
	case contracts.KindUnavailable, contracts.KindTimeout, contracts.KindInternal:
		return true
	}
	return false
}

// fallback runs the call's or the endpoint's fallback for err, or returns err.
func (c *Client) fallback(ctx context.Context, st *callState, req *Request, err error) (*Reply, error) {
	fb := req.fallback
	if fb == nil {
		fb = st.policy.Fallback
	}
	if fb == nil || !fallbackWanted(err) {
		return nil, err
	}
	rep, ferr := fb(ctx, req, err)
	if ferr != nil || rep == nil {
		st.fallbackRefused.Inc()
		return nil, err
	}
	if rep.Header == nil {
		rep.Header = nats.Header{}
	}
	rep.Header.Set(HeaderDegraded, "true")
	rep.Degraded = true
	st.fallbackServed.Inc()
	return rep, nil
}

// LastGood remembers the last successful reply per request (endpoint subject and body) and
// serves it when a later identical call fails: the catalog's last page is better than an
// error while the catalog is down. It is bounded (least recently used entries go first) and
// entries older than maxAge are not served.
type LastGood struct {
	max    int
	maxAge time.Duration

	mu    sync.Mutex
	order *list.List // front = most recent; values are *lastGoodEntry
	byKey map[string]*list.Element
}

type lastGoodEntry struct {
	key    string
	header nats.Header
	data   []byte
	at     time.Time
}

// NewLastGood returns a cache of at most entries replies (minimum 1), served for maxAge
// (0: no age limit).
func NewLastGood(entries int, maxAge time.Duration) *LastGood {
	return &LastGood{max: max(entries, 1), maxAge: maxAge, order: list.New(), byKey: map[string]*list.Element{}}
}

func lastGoodKey(req *Request) string { return req.Endpoint.Subject + "\x00" + string(req.Data) }

// Remember stores rep as the last good reply to req.
func (l *LastGood) Remember(req *Request, rep *Reply) {
	key := lastGoodKey(req)
	e := &lastGoodEntry{key: key, header: rep.Header, data: rep.Data, at: time.Now()}
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		el.Value = e
		l.order.MoveToFront(el)
		return
	}
	l.byKey[key] = l.order.PushFront(e)
	for l.order.Len() > l.max {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.byKey, old.Value.(*lastGoodEntry).key)
	}
}

// Fallback is a [Fallback] serving the remembered reply, if there is a fresh one.
func (l *LastGood) Fallback(_ context.Context, req *Request, err error) (*Reply, error) {
	key := lastGoodKey(req)
	l.mu.Lock()
	el, ok := l.byKey[key]
	var e *lastGoodEntry
	if ok {
		e = el.Value.(*lastGoodEntry)
		if l.maxAge > 0 && time.Since(e.at) > l.maxAge {
			l.order.Remove(el)
			delete(l.byKey, key)
			e = nil
		} else {
			l.order.MoveToFront(el)
		}
	}
	l.mu.Unlock()
	if e == nil {
		return nil, err
	}
	h := nats.Header{}
	for k, v := range e.header {
		h[k] = append([]string(nil), v...)
	}
	return &Reply{Header: h, Data: append([]byte(nil), e.data...)}, nil
}
