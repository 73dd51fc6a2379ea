// Package domain holds the blog's rules: what a valid post, category and comment are, who may
// change them (a post's writer; a comment's author; a post's author moderates), how markdown
// becomes safe HTML, and what a change means (which fields changed, whether it published the
// post). It does no I/O and names no wire type: ports and adapters map to the contracts' DTOs.
package domain

import (
	"slices"
	"strings"
	"time"

	"github.com/moa-run/moa/contracts"
)

// Actor is the verified caller of a command (the zero Actor is anonymous).
type Actor struct {
	UserID string
	Role   contracts.Role
	Name   string
}

// Post is the blog's aggregate.
type Post struct {
	ID           string
	AuthorID     string
	Slug         string
	Title        string
	Body         string // markdown
	HTML         string // Body rendered and sanitised
	Text         string // Body as plain text
	Category     string
	Tags         []string
	Status       contracts.PostStatus
	CoverImageID string
	Version      int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	PublishedAt  *time.Time
}

// Fields are the writer-editable fields of a post.
type Fields struct {
	Slug         string
	Title        string
	Body         string
	Category     string
	Tags         []string
	CoverImageID string
	Status       contracts.PostStatus
}

// Patch is a partial update: nil fields keep their value.
type Patch struct {
	Slug            *string
	Title           *string
	Body            *string
	Category        *string
	Tags            *[]string
	CoverImageID    *string
	Status          *contracts.PostStatus
	ExpectedVersion int64

	rendered *renderedBody // set by Prepare
}

// renderedBody is a body rendered ahead of Apply.
type renderedBody struct {
	body string
	Rendered
}

// Prepare renders the patch's body, if it has one, so that Apply, which runs while the store
// holds the post's row locked, need not: rendering is the costly part of an update, and a body
// that renders too large is refused before any transaction opens.
func (patch *Patch) Prepare() error {
	if patch.Body == nil {
		return nil
	}
	body := strings.TrimSpace(*patch.Body) // as normalise stores it
	if err := contracts.ValidatePostBody(body); err != nil {
		return err
	}
	r, err := Render(body)
	if err != nil {
		return err
	}
	patch.rendered = &renderedBody{body: body, Rendered: r}
	return nil
}

// Change describes what an applied patch did, so the adapter can emit the matching event.
type Change struct {
	Fields    []string // JSON names of the changed fields
	Published bool     // the post went from draft to published
}

// Empty reports whether the patch changed nothing.
func (c Change) Empty() bool { return len(c.Fields) == 0 }

// RequireWriter allows only writers to write posts and categories.
func RequireWriter(a Actor) error {
	if a.UserID == "" {
		return contracts.ErrUnauthenticated.Msg("sign in as a writer to write posts")
	}
	if a.Role != contracts.RoleWriter {
		return contracts.ErrForbidden.Msg("only writers write posts")
	}
	return nil
}

// NewPost makes a post written by actor. Times are truncated to microseconds, the database's
// precision, so what is returned equals what is stored.
func NewPost(id string, actor Actor, f Fields, now time.Time) (Post, error) {
	if err := RequireWriter(actor); err != nil {
		return Post{}, err
	}
	f = normalise(f)
	if err := validate(f); err != nil {
		return Post{}, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	p := Post{ID: id, AuthorID: actor.UserID, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := p.setFields(f, nil); err != nil {
		return Post{}, err
	}
	if p.Status == contracts.PostStatusPublished {
		p.PublishedAt = &now
	}
	return p, nil
}

// CheckOwner allows only the writer of p to change it.
func (p *Post) CheckOwner(actor Actor) error {
	if err := RequireWriter(actor); err != nil {
		return err
	}
	if actor.UserID != p.AuthorID {
		return contracts.ErrForbidden.Msg("post %s belongs to another writer", p.ID)
	}
	return nil
}

// VisibleTo reports whether actor may read p: anyone a published post, its author a draft.
func (p *Post) VisibleTo(actor Actor) bool {
	return p.Status == contracts.PostStatusPublished || actor.UserID != "" && actor.UserID == p.AuthorID
}

// Apply changes p by patch on behalf of actor. A patch that sets fields to their current values
// is no change: the version stays and no event follows. The first publication sets
// PublishedAt, which later unpublishing and republishing keep.
func (p *Post) Apply(actor Actor, patch Patch, now time.Time) (Change, error) {
	if err := p.CheckOwner(actor); err != nil {
		return Change{}, err
	}
	if patch.ExpectedVersion != 0 && patch.ExpectedVersion != p.Version {
		return Change{}, contracts.ErrConflict.Msg("post %s is at version %d, not %d", p.ID, p.Version, patch.ExpectedVersion)
	}
	next := p.fields()
	patchField(&next.Slug, patch.Slug)
	patchField(&next.Title, patch.Title)
	patchField(&next.Body, patch.Body)
	patchField(&next.Category, patch.Category)
	patchField(&next.Tags, patch.Tags)
	patchField(&next.CoverImageID, patch.CoverImageID)
	patchField(&next.Status, patch.Status)
	next = normalise(next)
	if err := validate(next); err != nil {
		return Change{}, err
	}
	ch := diff(p.fields(), next)
	if ch.Empty() {
		return ch, nil
	}
	now = now.UTC().Truncate(time.Microsecond)
	ch.Published = p.Status != contracts.PostStatusPublished && next.Status == contracts.PostStatusPublished
	if err := p.setFields(next, patch.rendered); err != nil {
		return Change{}, err
	}
	if ch.Published && p.PublishedAt == nil {
		p.PublishedAt = &now
	}
	p.Version++
	p.UpdatedAt = now
	return ch, nil
}

func (p *Post) fields() Fields {
	return Fields{Slug: p.Slug, Title: p.Title, Body: p.Body, Category: p.Category, Tags: p.Tags,
		CoverImageID: p.CoverImageID, Status: p.Status}
}

// setFields sets f on p and renders the body again when it changed, using pre if it is that
// body rendered ahead. A body that renders too large leaves p unchanged.
func (p *Post) setFields(f Fields, pre *renderedBody) error {
	if f.Body != p.Body || p.HTML == "" && f.Body != "" {
		var r Rendered
		if pre != nil && pre.body == f.Body {
			r = pre.Rendered
		} else {
			var err error
			if r, err = Render(f.Body); err != nil {
				return err
			}
		}
		p.HTML, p.Text = r.HTML, r.Text
	}
	p.Slug, p.Title, p.Body, p.Category, p.Tags = f.Slug, f.Title, f.Body, f.Category, f.Tags
	p.CoverImageID, p.Status = f.CoverImageID, f.Status
	return nil
}

func diff(a, b Fields) Change {
	var c Change
	add := func(changed bool, name string) {
		if changed {
			c.Fields = append(c.Fields, name)
		}
	}
	add(a.Slug != b.Slug, "slug")
	add(a.Title != b.Title, "title")
	add(a.Body != b.Body, "body")
	add(a.Category != b.Category, "category")
	add(!slices.Equal(a.Tags, b.Tags), "tags")
	add(a.CoverImageID != b.CoverImageID, "cover_image_id")
	add(a.Status != b.Status, "status")
	return c
}

// normalise trims text and makes tags lower-case, unique and in their given order, as the
// catalog does, so that "Go" and "go " are one tag and filters find them.
func normalise(f Fields) Fields {
	f.Title = strings.TrimSpace(f.Title)
	f.Body = strings.TrimSpace(f.Body)
	if f.Status == "" {
		f.Status = contracts.PostStatusDraft
	}
	tags := make([]string, 0, len(f.Tags))
	for _, t := range f.Tags {
		t = NormaliseTag(t)
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	f.Tags = tags
	return f
}

// NormaliseTag is the stored form of a tag (and of a tag filter).
func NormaliseTag(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// validate applies the contract's field rules again: commands may come from elsewhere than a
// decoded request, and a slug must never be stored unchecked.
func validate(f Fields) error {
	var cat error
	if f.Category != "" {
		cat = contracts.ValidateSlug("category", f.Category)
	}
	status := error(nil)
	if !f.Status.Valid() {
		status = contracts.ErrValidation.OnField("status", "status must be %q or %q", contracts.PostStatusDraft, contracts.PostStatusPublished)
	}
	for _, err := range []error{
		contracts.ValidateSlug("slug", f.Slug), contracts.ValidatePostTitle(f.Title), contracts.ValidatePostBody(f.Body),
		cat, contracts.ValidateTags(f.Tags), contracts.ValidateCoverImageID(f.CoverImageID), status,
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// patchField sets *dst to *v when the patch names the field (v != nil).
func patchField[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Category groups posts.
type Category struct {
	Slug      string
	Name      string
	CreatedAt time.Time
}

// NewCategory makes a category; only writers make them.
func NewCategory(actor Actor, slug, name string, now time.Time) (Category, error) {
	if err := RequireWriter(actor); err != nil {
		return Category{}, err
	}
	c := Category{Slug: slug, Name: strings.TrimSpace(name), CreatedAt: now.UTC().Truncate(time.Microsecond)}
	for _, err := range []error{contracts.ValidateSlug("slug", c.Slug), contracts.ValidateCategoryName(c.Name)} {
		if err != nil {
			return Category{}, err
		}
	}
	return c, nil
}
