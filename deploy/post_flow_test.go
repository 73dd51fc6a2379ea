package deploy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// blogFlow runs the blog's post service as the edge would call it, each service under its own
// NATS user: a writer signs up (auth takes the writer role) and publishes a post (post
// verifies the token with auth.v1.keys and writes its outbox), the marketplace's buyer reads
// it anonymously and comments, and the post service's relay publishes post.commented on the
// POST stream, which the ops user reads back.
func blogFlow(t *testing.T, c *bus.Client, opsRT *bus.Runtime, m market) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	w := signupLogin(t, ctx, c, "writer@example.test", contracts.RoleWriter)
	p, err := bus.Call(bus.WithAuthToken(ctx, w.Token), c, contracts.PostCreatePost, contracts.CreatePostRequest{
		Slug: "첫-글", Title: "첫 글", Body: "Hello <script>alert(1)</script> **blog**", Publish: true})
	if err != nil {
		t.Fatalf("post.create_post: %v", err)
	}
	if _, err := bus.Call(ctx, c, contracts.PostGetPost, contracts.GetPostRequest{Slug: "첫-글"}); err != nil {
		t.Fatalf("post.get_post anonymously: %v", err)
	}
	cm, err := bus.Call(bus.WithAuthToken(ctx, m.Buyer.Token), c, contracts.PostAddComment, contracts.AddCommentRequest{PostID: p.ID, Body: "좋은 글"})
	if err != nil {
		t.Fatalf("post.add_comment: %v", err)
	}
	moatest.WaitFor(t, time.Minute, func() error {
		st, err := opsRT.JetStream().Stream(ctx, contracts.StreamPost.Name)
		if err != nil {
			return err
		}
		msg, err := st.GetLastMsgForSubject(ctx, contracts.PostCommented.Subject(p.ID))
		if err != nil {
			return err
		}
		var env contracts.Envelope
		var d contracts.PostCommentedData
		if err := json.Unmarshal(msg.Data, &env); err != nil {
			return err
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return err
		}
		if d.CommentID != cm.ID || d.PostAuthorID != w.ID || d.AuthorID != m.Buyer.ID {
			t.Fatalf("post.commented %+v, want comment %s by %s on %s's post", d, cm.ID, m.Buyer.ID, w.ID)
		}
		return nil
	})
}
