package moatest

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// Buffer is an io.Writer a test can read while other goroutines write to it: a log
// destination for a runtime or a system, or a child process's output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ErrorLog is a slog.Handler that keeps the messages of records at level ERROR and above, for
// tests that hold that bad input never makes one: give a service slog.New(&ErrorLog{}) and
// read Errors at the end.
type ErrorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *ErrorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }

func (l *ErrorLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *ErrorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *ErrorLog) WithGroup(string) slog.Handler      { return l }

// Errors is the messages of the ERROR records so far.
func (l *ErrorLog) Errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs...)
}
