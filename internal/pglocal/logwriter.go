package pglocal

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// tailLines is how much of the server's output errors quote: enough for
// the FATAL line and the hint that usually follows it.
const tailLines = 20

// logWriter turns the server's stderr into slog records and remembers the
// last lines, so a failed start can say why instead of "exit status 1".
type logWriter struct {
	logger *slog.Logger
	source string

	mu      sync.Mutex
	partial []byte
	tail    []string
}

func newLogWriter(logger *slog.Logger, source string) *logWriter {
	return &logWriter{logger: logger, source: source}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *logWriter) line(s string) {
	s = strings.TrimRight(s, "\r")
	if s == "" {
		return
	}
	w.tail = append(w.tail, s)
	if len(w.tail) > tailLines {
		w.tail = w.tail[len(w.tail)-tailLines:]
	}
	level := slog.LevelDebug
	if strings.Contains(s, "PANIC:") || (strings.Contains(s, "FATAL:") && !expectedFatal(s)) {
		level = slog.LevelWarn
	}
	w.logger.Log(context.Background(), level, s, "source", w.source)
}

// expectedFatal filters FATAL lines that are normal for a server we start,
// stop and probe: readiness polling meets them on every start.
func expectedFatal(s string) bool {
	for _, m := range []string{
		"the database system is starting up",
		"the database system is shutting down",
		"the database system is in recovery mode",
		"terminating connection due to administrator command",
		"does not exist", // a test dropped its database while a pool was reconnecting
	} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// Tail returns the last lines written, joined.
func (w *logWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.tail
	if len(w.partial) > 0 {
		lines = append(lines[:len(lines):len(lines)], string(w.partial))
	}
	return strings.Join(lines, "\n")
}

// contains reports whether any remembered line contains s.
func (w *logWriter) contains(s string) bool {
	return strings.Contains(w.Tail(), s)
}
