package post_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/client"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
	"github.com/moa-run/moa/services/post"
)

func TestMain(m *testing.M) { moatest.Main(m) }

// harness is one post service instance on the service kit (real NATS and PostgreSQL), driven
// through the typed client.
type harness struct {
	*moatest.Kit[bus.Component]
	t    testing.TB
	post *client.PostClient
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessLogging(t, nil)
}

// newHarnessLogging is newHarness with the service's and the runtime's logs sent to log.
func newHarnessLogging(t testing.TB, log *slog.Logger) *harness {
	t.Helper()
	k := moatest.Service(t, post.Start, moatest.With{Postgres: true, Declared: post.Settings, Logger: log})
	return &harness{Kit: k, t: t, post: k.Client.Post}
}

// as returns a context carrying p's access token.
func (h *harness) as(p contracts.Principal) context.Context { return h.As(context.Background(), p) }

func anon() context.Context { return context.Background() }

// writer is a new principal with the writer role.
func writer() contracts.Principal { return principal(contracts.RoleWriter) }

// reader is a new signed-in consumer.
func reader() contracts.Principal { return principal(contracts.RoleConsumer) }

func principal(r contracts.Role) contracts.Principal {
	id := uuid.NewString()
	return contracts.Principal{UserID: id, Role: r, Email: string(r) + "-" + id[:8] + "@example.test", DisplayName: "Test " + string(r)}
}

// samplePost is a valid, published create request; tests change what they need.
func samplePost(slug string) contracts.CreatePostRequest {
	return contracts.CreatePostRequest{Slug: slug, Title: "Hello " + slug, Body: "# Hello\n\nSome *markdown* text.",
		Tags: []string{"Go", "blog"}, Publish: true}
}

func (h *harness) create(w contracts.Principal, req contracts.CreatePostRequest) contracts.Post {
	h.t.Helper()
	p, err := h.post.CreatePost(h.as(w), req)
	if err != nil {
		h.t.Fatalf("create %q: %v", req.Slug, err)
	}
	return p
}

func (h *harness) comment(p contracts.Principal, postID, parentID, body string) contracts.Comment {
	h.t.Helper()
	c, err := h.post.AddComment(h.as(p), contracts.AddCommentRequest{PostID: postID, ParentID: parentID, Body: body})
	if err != nil {
		h.t.Fatalf("comment %q: %v", body, err)
	}
	return c
}

// wantCode fails the test unless err is a contracts error with the code of want.
func wantCode(t testing.TB, what string, err error, want *contracts.Error) {
	t.Helper()
	ce := contracts.AsError(err)
	if ce == nil || ce.Code != want.Code {
		t.Fatalf("%s: got %v, want %s", what, err, want.Code)
	}
}
