package docstore

import (
	"context"
	"log/slog"
	"os"
	"strings"
)

// defaultLogger logs FerretDB's warnings and errors to stderr, minus its
// dumps of failed responses: FerretDB logs every command that answers
// ok:0 at warn level, wire message and all, although the client receives
// that same error. Tests provoke such errors on purpose (a duplicate key,
// an unsupported feature), and drivers send endSessions, which FerretDB
// does not know, on every disconnect.
func defaultLogger() *slog.Logger {
	return slog.New(responseDumpFilter{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})})
}

type responseDumpFilter struct{ slog.Handler }

func (h responseDumpFilter) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "Response header:") || strings.HasPrefix(r.Message, "Response message:") {
		return nil
	}
	if duplicateKey(r) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// duplicateKey reports a PostgreSQL backend's query log line for a unique
// violation: FerretDB's pgx tracer logs every failed statement at error
// level, but a duplicate key is the client's E11000 (bad input, answered),
// not a fault of the store.
func duplicateKey(r slog.Record) bool {
	if r.Level < slog.LevelError {
		return false
	}
	dup := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" && strings.Contains(a.Value.String(), "(SQLSTATE 23505)") {
			dup = true
			return false
		}
		return true
	})
	return dup
}

func (h responseDumpFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return responseDumpFilter{h.Handler.WithAttrs(attrs)}
}

func (h responseDumpFilter) WithGroup(name string) slog.Handler {
	return responseDumpFilter{h.Handler.WithGroup(name)}
}
