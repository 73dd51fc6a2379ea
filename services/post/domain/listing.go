package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/moa-run/moa/contracts"
)

// The kinds of list, each with its own order and cursors.
const (
	ListPublished = "published" // published posts by published_at desc, id desc
	ListMine      = "mine"      // a writer's posts by created_at desc, id desc
	listSearch    = "search"
	listComments  = "comments"
)

// ListQuery selects one page of posts. After is the last post of the previous page.
type ListQuery struct {
	Kind     string
	Category string
	Tag      string
	AuthorID string // ListMine
	Limit    int
	After    *Cursor
}

// Cursor is the keyset position after which a page starts: the sort key of the last row shown
// and its id. Filter binds it to the list it was made for, so a cursor replayed with other
// filters is refused instead of returning a wrong page.
type Cursor struct {
	Kind   string    `json:"k"`
	At     time.Time `json:"t,omitzero"`
	ID     string    `json:"i"`
	Thread string    `json:"h,omitempty"` // comments: the thread of the last comment
	Reply  bool      `json:"r,omitempty"` // comments: whether it was a reply
	Filter string    `json:"f"`
	Offset int       `json:"o,omitempty"` // search pages, ranked by relevance
}

// MaxSearchOffset bounds how deep search pages go, as in the catalog.
const MaxSearchOffset = 500

// NewListQuery is the query of published posts, optionally of a category or a tag.
func NewListQuery(category, tag string, limit int, cursor string) (ListQuery, error) {
	return withCursor(ListQuery{Kind: ListPublished, Category: category, Tag: NormaliseTag(tag), Limit: PageSize(limit)}, cursor)
}

// NewMineQuery is the query of a writer's own posts, drafts included.
func NewMineQuery(authorID string, limit int, cursor string) (ListQuery, error) {
	return withCursor(ListQuery{Kind: ListMine, AuthorID: authorID, Limit: PageSize(limit)}, cursor)
}

func withCursor(q ListQuery, cursor string) (ListQuery, error) {
	if cursor == "" {
		return q, nil
	}
	c, err := DecodeCursor(cursor)
	if err != nil {
		return q, err
	}
	if c.Kind != q.Kind || c.Filter != q.filterKey() || c.ID == "" || c.At.IsZero() {
		return q, contracts.ErrValidation.OnField("cursor", "the cursor belongs to another list")
	}
	if err := checkCursorIDs(c.ID); err != nil {
		return q, err
	}
	q.After = &c
	return q, nil
}

// PageSize turns a requested limit into the page size.
func PageSize(limit int) int {
	if limit <= 0 {
		return contracts.DefaultPageSize
	}
	return min(limit, contracts.MaxPageSize)
}

func (q ListQuery) filterKey() string { return digest(q.Kind, q.Category, q.Tag, q.AuthorID)[:16] }

// Summary is a post as a list shows it.
type Summary struct {
	ID           string
	AuthorID     string
	Slug         string
	Title        string
	Excerpt      string
	Category     string
	Tags         []string
	Status       contracts.PostStatus
	CoverImageID string
	CreatedAt    time.Time
	PublishedAt  *time.Time
}

// Summarise is p as lists and events show it.
func (p Post) Summarise() Summary {
	return Summary{ID: p.ID, AuthorID: p.AuthorID, Slug: p.Slug, Title: p.Title, Excerpt: Excerpt(p.Text, contracts.MaxExcerptLen),
		Category: p.Category, Tags: p.Tags, Status: p.Status, CoverImageID: p.CoverImageID, CreatedAt: p.CreatedAt, PublishedAt: p.PublishedAt}
}

// NextCursor is the cursor of the page after one that ended with last.
func (q ListQuery) NextCursor(last Summary) string {
	c := Cursor{Kind: q.Kind, ID: last.ID, Filter: q.filterKey(), At: last.CreatedAt}
	if q.Kind == ListPublished && last.PublishedAt != nil {
		c.At = *last.PublishedAt
	}
	return c.Encode()
}

// Encode is the opaque form of c.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads an opaque cursor.
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, contracts.ErrValidation.OnField("cursor", "cursor is not valid")
	}
	return c, nil
}

// checkCursorIDs refuses a cursor whose ids are not ids. Cursors are opaque but not signed: a
// forged one must be a validation error, not a failed ::uuid cast in the store.
func checkCursorIDs(ids ...string) error {
	for _, id := range ids {
		if contracts.ValidatePostID("cursor", id) != nil {
			return contracts.ErrValidation.OnField("cursor", "cursor is not valid")
		}
	}
	return nil
}

// SearchQuery is a normalised search: Text is lower-case with single spaces, Words its words.
type SearchQuery struct {
	Text   string
	Words  []string
	Limit  int
	Offset int
}

// MaxSearchWords bounds the words of a query that take part in matching.
const MaxSearchWords = 8

// NewSearchQuery normalises a search request and decodes its cursor.
func NewSearchQuery(text string, limit int, cursor string) (SearchQuery, error) {
	q := SearchQuery{Text: strings.ToLower(strings.Join(strings.Fields(text), " ")), Limit: PageSize(limit)}
	q.Words = strings.Fields(q.Text)
	if len(q.Words) == 0 {
		return q, contracts.ErrValidation.OnField("query", "query must not be empty")
	}
	if len(q.Words) > MaxSearchWords {
		q.Words = q.Words[:MaxSearchWords]
	}
	if cursor != "" {
		c, err := DecodeCursor(cursor)
		if err != nil {
			return q, err
		}
		if c.Kind != listSearch || c.Filter != q.filterKey() || c.Offset <= 0 || c.Offset > MaxSearchOffset {
			return q, contracts.ErrValidation.OnField("cursor", "the cursor belongs to another query")
		}
		q.Offset = c.Offset
	}
	return q, nil
}

func (q SearchQuery) filterKey() string { return digest(listSearch, q.Text)[:16] }

// NextCursor is the cursor of the next search page, or "" when there is none to offer.
func (q SearchQuery) NextCursor() string {
	next := q.Offset + q.Limit
	if next > MaxSearchOffset {
		return ""
	}
	return Cursor{Kind: listSearch, Offset: next, Filter: q.filterKey(), ID: "-"}.Encode()
}

// CommentQuery selects one page of a post's comments in thread order.
type CommentQuery struct {
	PostID string
	Limit  int
	After  *Cursor
}

// NewCommentQuery normalises a comment list request and decodes its cursor.
func NewCommentQuery(postID string, limit int, cursor string) (CommentQuery, error) {
	q := CommentQuery{PostID: postID, Limit: PageSize(limit)}
	if cursor == "" {
		return q, nil
	}
	c, err := DecodeCursor(cursor)
	if err != nil {
		return q, err
	}
	if c.Kind != listComments || c.Filter != q.filterKey() || c.ID == "" || c.Thread == "" {
		return q, contracts.ErrValidation.OnField("cursor", "the cursor belongs to another list")
	}
	if err := checkCursorIDs(c.ID, c.Thread); err != nil {
		return q, err
	}
	q.After = &c
	return q, nil
}

func (q CommentQuery) filterKey() string { return digest(listComments, q.PostID)[:16] }

// NextCursor is the cursor of the page after one that ended with last.
func (q CommentQuery) NextCursor(last Comment) string {
	return Cursor{Kind: listComments, ID: last.ID, Thread: last.ThreadID, Reply: last.ParentID != "", Filter: q.filterKey()}.Encode()
}

func digest(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}
