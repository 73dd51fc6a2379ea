package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client/authn/authntest"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/notify/ports"
)

// blogPost is a published post of the post service, as its events name it.
type blogPost struct {
	id, slug, title string
	author          contracts.Principal
}

// writer returns a writer (the blog's author role) who signed up.
func (f *fixture) writer() contracts.Principal {
	p := authntest.Seller()
	p.Role, p.Email, p.DisplayName = contracts.RoleWriter, "writer-"+p.UserID[:8]+"@example.test", "김작가"
	f.signup(p)
	return p
}

func (f *fixture) post(author contracts.Principal, title string) blogPost {
	id := uuid.NewString()
	return blogPost{id: id, slug: "post-" + id[:8], title: title, author: author}
}

// commented builds the post service's post.commented for a new comment by by on p; parent is
// the comment replied to (nil: a top-level comment).
func commented(p blogPost, by contracts.Principal, body string, parent *contracts.PostCommentedData) contracts.PostCommentedData {
	d := contracts.PostCommentedData{PostID: p.id, PostSlug: p.slug, PostTitle: p.title, PostAuthorID: p.author.UserID,
		CommentID: uuid.NewString(), AuthorID: by.UserID, AuthorName: by.DisplayName, Excerpt: body, CommentedAt: time.Now().UTC()}
	if parent != nil {
		d.ParentID, d.ParentAuthorID = parent.CommentID, parent.AuthorID
	}
	return d
}

// comment publishes d and waits until notify handled it.
func (f *fixture) comment(d contracts.PostCommentedData) {
	f.t.Helper()
	publish(f, ports.PostConsumer, "post", contracts.PostCommented, d.PostID, d)
}

// devMails waits until the dev mailbox holds n sent mails to p and returns them.
func (f *fixture) devMails(p contracts.Principal, n int) []contracts.DevMail {
	f.t.Helper()
	var box contracts.DevMailbox
	moatest.WaitFor(f.t, 20*time.Second, func() error {
		var err error
		if box, err = f.notify.DevMailbox(f.as(p), contracts.DevMailboxReq{To: p.Email}); err != nil {
			return err
		}
		if len(box.Items) != n {
			return fmt.Errorf("dev mailbox of %s: %d mails, want %d", p.Email, len(box.Items), n)
		}
		for _, m := range box.Items {
			if m.Status != "sent" {
				return fmt.Errorf("dev mail to %s is %s", p.Email, m.Status)
			}
		}
		return nil
	})
	return box.Items
}

func noticeData(t *testing.T, n contracts.Notification) contracts.CommentNoticeData {
	t.Helper()
	var d contracts.CommentNoticeData
	if err := json.Unmarshal(n.Data, &d); err != nil {
		t.Fatalf("%s notification data: %v", n.Kind, err)
	}
	return d
}

// A reader's comment on a post reaches its author live on their push subject, stored as
// post.commented, with a mail in Korean and English in the dev mailbox; the same event again
// (replayed, or re-published under a new id) changes nothing.
func TestCommentAlertsThePostsAuthor(t *testing.T) {
	f := start(t, withSetting("SMTP_ADDR", ""))
	w, reader := f.writer(), f.consumers(1)[0]
	pushes := f.Pushes(t, w.UserID)
	p := f.post(w, "서울 여행 / Seoul trip")
	d := commented(p, reader, "Great photos!\nWhere was the second one taken?", nil)
	env := emit(f, "post", contracts.PostCommented, p.id, d)

	var pushed contracts.Notification
	push := pushes.NextOf(t, contracts.PushTopicNotification, &pushed)
	if push.Seq != 1 || pushed.Kind != contracts.NotificationPostCommented || pushed.Seq != 1 {
		t.Fatalf("push to the post's author: seq %d, %+v", push.Seq, pushed)
	}
	n := f.waitNotifications(w, 1)[0]
	if n.Kind != contracts.NotificationPostCommented || n.Title != pushed.Title || n.Title != "New comment on your post" ||
		!strings.Contains(n.Body, "Test consumer") || !strings.Contains(n.Body, p.title) || !strings.Contains(n.Body, "Great photos!") {
		t.Errorf("notification to the post's author: %+v", n)
	}
	if got := noticeData(t, n); got != (contracts.CommentNoticeData{PostID: p.id, PostSlug: p.slug, CommentID: d.CommentID, AuthorID: reader.UserID}) {
		t.Errorf("notification data: %+v", got)
	}
	m := f.devMails(w, 1)[0]
	if m.UserID != w.UserID || !strings.Contains(m.Subject, "내 글에 새 댓글") || !strings.Contains(m.Subject, "New comment on your post") {
		t.Errorf("mail subject: %q", m.Subject)
	}
	for _, want := range []string{"Test consumer님이", "댓글을 남겼습니다", "Test consumer commented on your post", p.title,
		"> Great photos!\n> Where was the second one taken?", p.slug, d.CommentID} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, m.Body)
		}
	}
	if got := f.since(reader, 0); got.LastSeq != 0 {
		t.Errorf("the commenter got %d notifications about their own comment", got.LastSeq)
	}

	// The same event twice more: replayed under a new stream id, and emitted again with a new
	// event id. One notification and one mail stay.
	f.handled(ports.PostConsumer, f.redeliver(contracts.PostCommented.Subject(p.id), env))
	f.comment(d)
	if got := f.since(w, 0); got.LastSeq != 1 {
		t.Errorf("the post's author has %d notifications after duplicates, want 1", got.LastSeq)
	}
	if got := f.count(`SELECT count(*) FROM mail_queue WHERE user_id = $1`, w.UserID); got != 1 {
		t.Errorf("the post's author has %d mails after duplicates, want 1", got)
	}
}

// A reply alerts the parent comment's author (comment.replied) and the post's author
// (post.commented), never the one who wrote it, and the post's author who also wrote the
// parent comment once.
func TestReplyAlertsTheParentsAuthor(t *testing.T) {
	f := start(t, withSetting("SMTP_ADDR", ""))
	w := f.writer()
	rs := f.consumers(2)
	alice, bob := rs[0], rs[1]
	p := f.post(w, "Hello, world")

	// Alice comments, Bob replies to her: Alice is told of a reply to her comment, the writer
	// of a reply on their post.
	top := commented(p, alice, "First!", nil)
	f.comment(top)
	reply := commented(p, bob, "Second, then.", &top)
	f.comment(reply)
	an := f.waitNotifications(alice, 1)[0]
	if an.Kind != contracts.NotificationCommentReplied || an.Title != "New reply to your comment" || !strings.Contains(an.Body, "Second, then.") {
		t.Errorf("alert to the parent's author: %+v", an)
	}
	if got := noticeData(t, an); got.ParentID != top.CommentID || got.CommentID != reply.CommentID || got.OnYourPost {
		t.Errorf("reply data: %+v", got)
	}
	wn := f.waitNotifications(w, 2)
	if wn[0].Kind != contracts.NotificationPostCommented || wn[0].Title != "New comment on your post" ||
		wn[1].Kind != contracts.NotificationPostCommented || wn[1].Title != "New reply on your post" {
		t.Errorf("alerts to the post's author: %+v", wn)
	}
	am := f.devMails(alice, 1)[0]
	if !strings.Contains(am.Subject, "내 댓글에 새 답글") || !strings.Contains(am.Body, "replied to your comment on \"Hello, world\"") {
		t.Errorf("mail to the parent's author: %+v", am)
	}
	if got := f.since(bob, 0); got.LastSeq != 0 {
		t.Errorf("the replier got %d notifications", got.LastSeq)
	}

	// The writer replies to Alice: Alice is told, the writer is not.
	f.comment(commented(p, w, "Thanks!", &top))
	f.waitNotifications(alice, 2)
	// Alice replies to her own comment: only the writer is told.
	f.comment(commented(p, alice, "Edit: typo.", &top))
	f.waitNotifications(w, 3)
	// The writer comments on their own post: nobody is told.
	mine := commented(p, w, "Comments are open.", nil)
	f.comment(mine)
	// Bob replies to the writer's comment on the writer's post: one alert, saying both.
	r := commented(p, bob, "Good to know.", &mine)
	f.comment(r)
	wn = f.waitNotifications(w, 4)
	last := wn[3]
	if last.Kind != contracts.NotificationCommentReplied || last.Title != "New reply to your comment on your post" ||
		!noticeData(t, last).OnYourPost || noticeData(t, last).CommentID != r.CommentID {
		t.Errorf("alert to the post's author who wrote the parent: %+v", last)
	}
	if got := f.since(alice, 0).LastSeq; got != 2 {
		t.Errorf("alice has %d notifications, want 2", got)
	}
	if got := f.since(bob, 0).LastSeq; got != 0 {
		t.Errorf("bob has %d notifications, want 0", got)
	}
	if got := f.since(w, 0).LastSeq; got != 4 {
		t.Errorf("the writer has %d notifications, want 4 (none for their own comments)", got)
	}
	f.devMails(w, 4)
	f.devMails(alice, 2)
}

// A post.commented whose ids cannot name a user is refused as bad input: dead-lettered, not
// retried, storing nothing, and not blocking the post's next comments.
func TestCommentWithBadIDsStoresNothing(t *testing.T) {
	f := start(t, withSetting("SMTP_ADDR", ""))
	w, reader := f.writer(), f.consumers(1)[0]
	p := f.post(w, "Hello")
	bad := commented(p, reader, "hi", nil)
	bad.PostAuthorID = "not.a token"
	emit(f, "post", contracts.PostCommented, p.id, bad)
	f.comment(commented(p, reader, "hello", nil))
	n := f.waitNotifications(w, 1)[0]
	if !strings.Contains(n.Body, "hello") {
		t.Errorf("notification: %+v", n)
	}
	if got := f.count(`SELECT count(*) FROM notifications`); got != 1 {
		t.Errorf("%d notifications stored, want 1", got)
	}
	moatest.WaitFor(t, 20*time.Second, func() error {
		s, err := f.Runtime.JetStream().Stream(context.Background(), contracts.StreamDeadLetter.Name)
		if err != nil {
			return err
		}
		subject := bus.DeadLetterSubject(contracts.StreamPost.Name, ports.PostConsumer.Durable)
		info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
		if err != nil {
			return err
		}
		if n := info.State.Subjects[subject]; n != 1 {
			return fmt.Errorf("%d dead letters on %s, want 1", n, subject)
		}
		return nil
	})
}
