package adapters

import (
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/domain"
)

// summaryWire is a post summary's wire form, as the post events carry it. Ports map the same
// type for list responses (ports/wire.go); the two mappings must agree.
func summaryWire(s domain.Summary) contracts.PostSummary {
	tags := s.Tags
	if tags == nil {
		tags = []string{}
	}
	return contracts.PostSummary{ID: s.ID, AuthorID: s.AuthorID, Slug: s.Slug, Title: s.Title, Excerpt: s.Excerpt,
		Category: s.Category, Tags: tags, Status: s.Status, CoverImageID: s.CoverImageID, CreatedAt: s.CreatedAt,
		PublishedAt: s.PublishedAt}
}
