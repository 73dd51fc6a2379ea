package ports

import (
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/app"
	"github.com/moa-run/moa/services/post/domain"
)

// postView is a post's wire form. Tags are never null on the wire.
func postView(p domain.Post) contracts.Post {
	return contracts.Post{ID: p.ID, AuthorID: p.AuthorID, Slug: p.Slug, Title: p.Title, Body: p.Body, HTML: p.HTML,
		Category: p.Category, Tags: nonNil(p.Tags), Status: p.Status, CoverImageID: p.CoverImageID, Version: p.Version,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, PublishedAt: p.PublishedAt}
}

func summaryView(s domain.Summary) contracts.PostSummary {
	return contracts.PostSummary{ID: s.ID, AuthorID: s.AuthorID, Slug: s.Slug, Title: s.Title, Excerpt: s.Excerpt,
		Category: s.Category, Tags: nonNil(s.Tags), Status: s.Status, CoverImageID: s.CoverImageID, CreatedAt: s.CreatedAt,
		PublishedAt: s.PublishedAt}
}

func pageView(p app.PostPage, err error) (contracts.PostPage, error) {
	if err != nil {
		return contracts.PostPage{}, err
	}
	out := contracts.PostPage{Items: make([]contracts.PostSummary, 0, len(p.Items)), NextCursor: p.NextCursor}
	for _, s := range p.Items {
		out.Items = append(out.Items, summaryView(s))
	}
	return out, nil
}

func commentView(c domain.Comment) contracts.Comment {
	return contracts.Comment{ID: c.ID, PostID: c.PostID, ParentID: c.ParentID, AuthorID: c.AuthorID, AuthorName: c.AuthorName,
		Body: c.Body, Hidden: c.Hidden, Deleted: c.Deleted, Edited: c.Edited, CreatedAt: c.CreatedAt}
}

func categoryView(c domain.Category) contracts.Category {
	return contracts.Category{Slug: c.Slug, Name: c.Name, CreatedAt: c.CreatedAt}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
