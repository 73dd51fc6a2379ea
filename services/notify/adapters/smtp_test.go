package adapters_test

import (
	"bytes"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/services/notify/adapters"
)

// A rendered mail parses back to the same subject and body, including non-ASCII text and
// lines longer than SMTP allows, and its Message-ID depends only on (event, recipient).
func TestMessageRoundTrips(t *testing.T) {
	from, _ := mail.ParseAddress("Moa <no-reply@moa.test>")
	body := "Grüße,\n\n" + strings.Repeat("lange Zeile ", 200) + "\n.\nEnde"
	m := adapters.Outgoing{UserID: "u-1", DedupKey: "k-1", To: "ana@example.test", Name: "Ana Ñ", Subject: "Neue Bedingungen für «Plan»", Body: body}
	raw, err := adapters.Message(from, m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("a line of %d bytes", len(line))
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("subject %q (%v), want %q", subject, err, m.Subject)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != m.To || to[0].Name != m.Name {
		t.Errorf("To %v (%v)", to, err)
	}
	got, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSuffix(strings.ReplaceAll(string(got), "\r\n", "\n"), "\n") != body {
		t.Errorf("body does not round-trip:\n%q", got)
	}
	again, _ := adapters.Message(from, m, time.Now().Add(time.Hour))
	other := m
	other.UserID = "u-2"
	third, _ := adapters.Message(from, other, time.Now())
	id := func(b []byte) string {
		mm, _ := mail.ReadMessage(bytes.NewReader(b))
		return mm.Header.Get("Message-ID")
	}
	if id(raw) != id(again) || id(raw) == id(third) || !strings.HasSuffix(id(raw), "@moa.test>") {
		t.Errorf("Message-IDs: %s, %s (same mail later), %s (other recipient)", id(raw), id(again), id(third))
	}
	if _, err := adapters.Message(from, adapters.Outgoing{To: "not an address"}, time.Now()); err == nil {
		t.Error("a bad recipient address renders")
	}
}
