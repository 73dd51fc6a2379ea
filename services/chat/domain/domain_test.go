package domain_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/chat/domain"
)

func TestPositionsSortInMessageOrder(t *testing.T) {
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	want := []domain.Pos{
		domain.PosOf(base, "b"),
		domain.PosOf(base, "c"),                      // same nanosecond: the id decides
		domain.PosOf(base.Add(time.Nanosecond), "a"), // one nanosecond later beats any id
		domain.PosOf(base.Add(10*time.Second), "0"),  // more digits in the seconds never matter
		domain.PosOf(base.AddDate(100, 0, 0), "0"),
	}
	got := append([]domain.Pos(nil), want...)
	sort.Slice(got, func(i, j int) bool { return got[j].After(got[i]) })
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted positions %v, want %v", got, want)
		}
	}
	if domain.Pos("").After(want[0]) || !want[0].After("") {
		t.Fatal("the zero position must come before every message")
	}
	if id := domain.PosOf(base, "0190-abc").ID(); id != "0190-abc" {
		t.Fatalf("ID() = %q", id)
	}
}

func TestRoomIDIsDerivedFromProductAndConsumer(t *testing.T) {
	p := "0b5a4f0e-6f7e-4e39-9d7e-1b0a8c1f2d3e"
	a := domain.RoomID(p, "consumer-1")
	if a != domain.RoomID(strings.ToUpper(p), "consumer-1") {
		t.Fatal("product id case changes the room id")
	}
	if a == domain.RoomID(p, "consumer-2") || a == domain.RoomID("1b5a4f0e-6f7e-4e39-9d7e-1b0a8c1f2d3e", "consumer-1") {
		t.Fatal("different (product, consumer) pairs share a room id")
	}
	if !contracts.IsToken(a) {
		t.Fatalf("room id %q is not a subject token", a)
	}
}

func TestNewRoomRules(t *testing.T) {
	now := time.Now()
	prod := domain.Product{ID: "0b5a4f0e-6f7e-4e39-9d7e-1b0a8c1f2d3e", SellerID: "s1", Title: "t"}
	r, err := domain.NewRoom(prod, "c1", now)
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsMember("c1") || !r.IsMember("s1") || r.IsMember("x") || r.IsMember("") {
		t.Fatal("membership is wrong")
	}
	if r.Other("c1") != "s1" || r.Other("s1") != "c1" || r.SideOf("s1") != domain.SideSeller || r.SideOf("c1") != domain.SideConsumer {
		t.Fatal("sides are wrong")
	}
	if err := r.Visible("x"); !errors.Is(err, contracts.ErrNotFound) {
		t.Fatalf("Visible to a stranger = %v, want not_found", err)
	}
	if _, err := domain.NewRoom(domain.Product{ID: prod.ID, SellerID: "c1"}, "c1", now); !errors.Is(err, contracts.ErrForbidden) {
		t.Fatalf("room with oneself = %v, want forbidden", err)
	}
	if _, err := domain.NewRoom(domain.Product{ID: prod.ID, SellerID: "s.*"}, "c1", now); !errors.Is(err, contracts.ErrInvalidSubject) {
		t.Fatalf("seller id unsafe in a subject = %v, want invalid_subject_token", err)
	}
}

func TestUnreadNeedsSomeoneElsesLaterMessage(t *testing.T) {
	now := time.Now()
	r, _ := domain.NewRoom(domain.Product{ID: "0b5a4f0e-6f7e-4e39-9d7e-1b0a8c1f2d3e", SellerID: "s1"}, "c1", now)
	if r.MayHaveUnread("c1") {
		t.Fatal("empty room has unread")
	}
	m := domain.Message{ID: "m1", RoomID: r.ID, SenderID: "s1", Text: "hi", SentAt: now}
	r.Last = &m
	if !r.MayHaveUnread("c1") || r.MayHaveUnread("s1") {
		t.Fatal("the consumer has the seller's message unread; the seller has nothing unread")
	}
	r.ConsumerRead = m.Pos()
	if r.MayHaveUnread("c1") {
		t.Fatal("read up to the last message, still unread")
	}
}

func TestChatTextRules(t *testing.T) {
	for in, want := range map[string]string{
		"  hi  ":         "hi",
		"a\r\nb\rc":      "a\nb\nc",
		"\n\nline\n\n":   "line",
		"안녕하세요 👋":        "안녕하세요 👋",
		"multi\n\nlines": "multi\n\nlines",
	} {
		got, err := contracts.NormalizeChatText("text", in)
		if err != nil || got != want {
			t.Errorf("NormalizeChatText(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "   ", "\r\n", "tab\there", "nul\x00", "esc\x1b[31m", "bad \xff", "del\x7f",
		strings.Repeat("a", contracts.ChatMaxTextLen+1)} {
		if _, err := contracts.NormalizeChatText("text", in); !errors.Is(err, contracts.ErrValidation) {
			t.Errorf("NormalizeChatText(%q) = %v, want validation_failed", in, err)
		}
	}
	if _, err := contracts.NormalizeChatText("text", strings.Repeat("가", contracts.ChatMaxTextLen)); err != nil {
		t.Errorf("text of exactly %d runes: %v", contracts.ChatMaxTextLen, err)
	}
}
