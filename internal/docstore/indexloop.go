package docstore

import (
	"context"
	"time"
)

// indexLoop runs pass at once and then every idIndexInterval until close: the
// one loop both backends' _id indexers (idindex.go, pgidindex.go) run on.
type indexLoop struct {
	stop chan struct{}
	done chan struct{}
}

// startIndexLoop starts the loop; after, if not nil, runs once the loop has
// ended (to release what the passes held).
func startIndexLoop(pass func(ctx context.Context), after func()) *indexLoop {
	l := &indexLoop{stop: make(chan struct{}), done: make(chan struct{})}
	go l.run(pass, after)
	return l
}

// close stops the loop, interrupting a pass in flight (one waiting for a
// write lock, say), and waits until it has ended. A nil loop is a no-op.
func (l *indexLoop) close() {
	if l == nil {
		return
	}
	close(l.stop)
	<-l.done
}

func (l *indexLoop) run(pass func(ctx context.Context), after func()) {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-l.done:
		}
	}()
	if after != nil {
		defer after()
	}
	tick := time.NewTicker(idIndexInterval)
	defer tick.Stop()
	for {
		pass(ctx)
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
	}
}
