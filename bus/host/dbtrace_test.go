package host

import "testing"

func TestRedactLiterals(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT * FROM t WHERE id = $1":                                         "SELECT * FROM t WHERE id = $1",
		"BEGIN; INSERT INTO moa_inbox (consumer, event_id) VALUES ('c', 'e-1')": "BEGIN; INSERT INTO moa_inbox (consumer, event_id) VALUES (?, ?)",
		"SELECT 'it''s', 2":                                                     "SELECT ?, 2",
	} {
		if got := redactLiterals(in); got != want {
			t.Errorf("redactLiterals(%q) = %q, want %q", in, got, want)
		}
	}
}
