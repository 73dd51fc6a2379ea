package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/moa-run/moa/contracts"
)

// ListQuery selects one page of products. After is the last product of the previous page.
type ListQuery struct {
	Tag      string
	Currency string
	MinPrice *int64
	MaxPrice *int64
	Sort     contracts.ProductSort
	SellerID string // set only for a seller's own list
	Limit    int
	After    *Cursor
}

// Cursor is the keyset position after which a page starts: the sort key of the last product
// shown and its id as the tie-breaker. Filter binds it to the filters it was made for, so a
// cursor replayed with other filters is refused instead of returning a wrong page.
type Cursor struct {
	Sort      contracts.ProductSort `json:"s"`
	CreatedAt time.Time             `json:"t,omitzero"`
	Price     int64                 `json:"p,omitempty"`
	Views     int64                 `json:"v,omitempty"`
	ID        string                `json:"i"`
	Filter    string                `json:"f"`
	Offset    int                   `json:"o,omitempty"` // search pages, ranked by relevance
}

// MaxSearchOffset bounds how deep search pages go: relevance ranking has no stable key to page
// by, and nobody reads page 50 of a search.
const MaxSearchOffset = 500

// NewListQuery normalises the request of a list and decodes its cursor.
func NewListQuery(tag, currency string, minPrice, maxPrice *int64, sort contracts.ProductSort, limit int, cursor string) (ListQuery, error) {
	return withCursor(ListQuery{Tag: NormaliseTag(tag), Currency: currency, MinPrice: minPrice, MaxPrice: maxPrice, Sort: sort, Limit: PageSize(limit)}, cursor)
}

// NewSellerQuery is the query of a seller's own products, newest first.
func NewSellerQuery(sellerID string, limit int, cursor string) (ListQuery, error) {
	return withCursor(ListQuery{Sort: contracts.SortNewest, SellerID: sellerID, Limit: PageSize(limit)}, cursor)
}

func withCursor(q ListQuery, cursor string) (ListQuery, error) {
	if q.Sort == "" {
		q.Sort = contracts.SortNewest
	}
	if cursor != "" {
		c, err := DecodeCursor(cursor)
		if err != nil {
			return q, err
		}
		if c.Sort != q.Sort || c.Filter != q.filterKey() || c.ID == "" {
			return q, contracts.ErrValidation.OnField("cursor", "the cursor belongs to another sort or other filters")
		}
		q.After = &c
	}
	return q, nil
}

// PageSize turns a requested limit into the page size.
func PageSize(limit int) int {
	if limit <= 0 {
		return contracts.DefaultPageSize
	}
	return min(limit, contracts.MaxPageSize)
}

// filterKey is a short digest of the filters, stored in cursors.
func (q ListQuery) filterKey() string {
	p := func(v *int64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	return digest(q.Tag, q.Currency, p(q.MinPrice), p(q.MaxPrice), q.SellerID)[:16]
}

// CacheKey identifies the page for caching: the same key means the same rows.
func (q ListQuery) CacheKey(kind string) string {
	after := ""
	if q.After != nil {
		after = q.After.Encode()
	}
	return digest(kind, string(q.Sort), q.filterKey(), fmt.Sprint(q.Limit), after)
}

// Summary is a product as a list shows it: one row of a page, which also carries the sort
// keys the next page's cursor is made of.
type Summary struct {
	ID            string
	SellerID      string
	Title         string
	PriceAmount   int64
	Currency      string
	BillingPeriod contracts.BillingPeriod
	TermsVersion  int
	Capacity      int
	SeatsTaken    int
	Tags          []string
	ImageURL      string // the first image, if any
	Views         int64
	CreatedAt     time.Time
}

// NextCursor is the cursor of the page after one that ended with last.
func (q ListQuery) NextCursor(last Summary) string {
	c := Cursor{Sort: q.Sort, ID: last.ID, Filter: q.filterKey()}
	switch q.Sort {
	case contracts.SortPriceAsc, contracts.SortPriceDesc:
		c.Price = last.PriceAmount
	case contracts.SortPopular:
		c.Views = last.Views
	default:
		c.CreatedAt = last.CreatedAt
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
	q := SearchQuery{Text: NormaliseQuery(text), Limit: PageSize(limit)}
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
		if c.Sort != "search" || c.Filter != q.filterKey() || c.Offset <= 0 || c.Offset > MaxSearchOffset {
			return q, contracts.ErrValidation.OnField("cursor", "the cursor belongs to another query")
		}
		q.Offset = c.Offset
	}
	return q, nil
}

// NormaliseQuery is the form in which queries are matched and recorded: trimmed, spaces
// collapsed, lower-case (Hangul has no case and is kept as is).
func NormaliseQuery(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

func (q SearchQuery) filterKey() string { return digest("search", q.Text)[:16] }

// NextCursor is the cursor of the next search page, or "" when there is none to offer.
func (q SearchQuery) NextCursor() string {
	next := q.Offset + q.Limit
	if next > MaxSearchOffset {
		return ""
	}
	return Cursor{Sort: "search", Offset: next, Filter: q.filterKey(), ID: "-"}.Encode()
}

func digest(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

// ViewerKey turns a viewer identity into a fixed-size key that is safe in a KV key and does not
// reveal the identity.
func ViewerKey(viewer string) string { return digest("viewer", viewer)[:32] }
