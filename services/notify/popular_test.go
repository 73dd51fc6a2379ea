package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/notify/ports"
)

// popularity builds the log service's log.post_popular for p reaching threshold views.
func popularity(p blogPost, threshold int64) contracts.PostPopularData {
	return contracts.PostPopularData{PostID: p.id, AuthorID: p.author.UserID, Title: p.title, Threshold: threshold}
}

// popular publishes d and waits until notify handled it.
func (f *fixture) popular(d contracts.PostPopularData) {
	f.t.Helper()
	publish(f, ports.LogConsumer, "log", contracts.LogPostPopular, d.PostID, d)
}

func popularData(t *testing.T, n contracts.Notification) contracts.PopularNoticeData {
	t.Helper()
	var d contracts.PopularNoticeData
	if err := json.Unmarshal(n.Data, &d); err != nil {
		t.Fatalf("%s notification data: %v", n.Kind, err)
	}
	return d
}

// A post crossing a threshold tells its author live on their push subject, stored as
// post.popular, with a mail in Korean and English in the dev mailbox. The same crossing again
// (replayed, or re-sent by the log under a new event id) changes nothing; the next threshold
// is told again.
func TestPopularAlertsThePostsAuthor(t *testing.T) {
	f := start(t, withSetting("SMTP_ADDR", ""))
	w := f.writer()
	pushes := f.Pushes(t, w.UserID)
	p := f.post(w, "서울 여행 / Seoul trip")
	d := popularity(p, 100)
	env := emit(f, "log", contracts.LogPostPopular, p.id, d)

	var pushed contracts.Notification
	push := pushes.NextOf(t, contracts.PushTopicNotification, &pushed)
	if push.Seq != 1 || pushed.Kind != contracts.NotificationPostPopular || pushed.Seq != 1 {
		t.Fatalf("push to the post's author: seq %d, %+v", push.Seq, pushed)
	}
	n := f.waitNotifications(w, 1)[0]
	if n.Kind != contracts.NotificationPostPopular || n.Title != pushed.Title || n.Title != "Your post is popular" ||
		n.Body != `Your post "서울 여행 / Seoul trip" has reached 100 views.` {
		t.Errorf("notification to the post's author: %+v", n)
	}
	if got := popularData(t, n); got != (contracts.PopularNoticeData{PostID: p.id, Threshold: 100}) {
		t.Errorf("notification data: %+v", got)
	}
	m := f.devMails(w, 1)[0]
	if m.UserID != w.UserID || m.Subject != "내 글이 인기 글이 되었습니다 · Your post is popular" {
		t.Errorf("mail: %+v", m)
	}
	for _, want := range []string{`내 글 "서울 여행 / Seoul trip"의 조회수가 100회에 이르렀습니다.`,
		`Your post "서울 여행 / Seoul trip" has reached 100 views.`, p.id} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, m.Body)
		}
	}

	// The same crossing twice more: replayed under a new stream id with the same event id, and
	// emitted again with a new event id. One notification and one mail stay.
	f.handled(ports.LogConsumer, f.redeliver(contracts.LogPostPopular.Subject(p.id), env))
	f.popular(d)
	if got := f.since(w, 0); got.LastSeq != 1 {
		t.Errorf("the post's author has %d notifications after duplicates, want 1", got.LastSeq)
	}
	if got := f.count(`SELECT count(*) FROM mail_queue WHERE user_id = $1`, w.UserID); got != 1 {
		t.Errorf("the post's author has %d mails after duplicates, want 1", got)
	}
	if got := f.metric("moa_notify_inbox_duplicates_total", "consumer", ports.LogConsumer.Durable); got != 1 {
		t.Errorf("inbox duplicates on %s: %v, want 1 (the replay; the re-send is a new event)", ports.LogConsumer.Durable, got)
	}

	// The next threshold of the same post, and the same threshold of another post, are news.
	f.popular(popularity(p, 1000))
	other := f.post(w, "")
	f.popular(popularity(other, 100))
	ns := f.waitNotifications(w, 3)
	if popularData(t, ns[1]) != (contracts.PopularNoticeData{PostID: p.id, Threshold: 1000}) ||
		popularData(t, ns[2]) != (contracts.PopularNoticeData{PostID: other.id, Threshold: 100}) ||
		ns[2].Body != "Your post has reached 100 views." {
		t.Errorf("later alerts: %+v", ns[1:])
	}
	f.devMails(w, 3)
	if errs := f.errs.Errors(); len(errs) > 0 {
		t.Errorf("ERROR logs: %q", errs)
	}
}

// A log.post_popular that cannot name a post, a user or a threshold is refused as bad input:
// dead-lettered, not retried, storing nothing, logging no ERROR, and not blocking the post's
// next crossing.
func TestPopularWithBadInputStoresNothing(t *testing.T) {
	f := start(t, withSetting("SMTP_ADDR", ""))
	w := f.writer()
	p := f.post(w, "Hello")
	bads := []func(*contracts.PostPopularData){
		func(d *contracts.PostPopularData) { d.AuthorID = "not.a token" },
		func(d *contracts.PostPopularData) { d.AuthorID = "" },
		func(d *contracts.PostPopularData) { d.PostID = "evt.>" },
		func(d *contracts.PostPopularData) { d.Threshold = 0 },
		func(d *contracts.PostPopularData) { d.Threshold = -5 },
	}
	for _, bad := range bads {
		d := popularity(p, 10)
		bad(&d)
		emit(f, "log", contracts.LogPostPopular, p.id, d)
	}
	f.popular(popularity(p, 10))
	n := f.waitNotifications(w, 1)[0]
	if n.Kind != contracts.NotificationPostPopular || popularData(t, n) != (contracts.PopularNoticeData{PostID: p.id, Threshold: 10}) {
		t.Errorf("notification: %+v", n)
	}
	if got := f.count(`SELECT count(*) FROM notifications`); got != 1 {
		t.Errorf("%d notifications stored, want 1", got)
	}
	if got := f.count(`SELECT count(*) FROM mail_queue`); got != 1 {
		t.Errorf("%d mails queued, want 1", got)
	}
	moatest.WaitFor(t, 20*time.Second, func() error {
		s, err := f.Runtime.JetStream().Stream(context.Background(), contracts.StreamDeadLetter.Name)
		if err != nil {
			return err
		}
		subject := bus.DeadLetterSubject(contracts.StreamLog.Name, ports.LogConsumer.Durable)
		info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
		if err != nil {
			return err
		}
		if n := info.State.Subjects[subject]; n != uint64(len(bads)) {
			return fmt.Errorf("%d dead letters on %s, want %d", n, subject, len(bads))
		}
		return nil
	})
	if errs := f.errs.Errors(); len(errs) > 0 {
		t.Errorf("ERROR logs for bad input: %q", errs)
	}
}
