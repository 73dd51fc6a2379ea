package contracts

import (
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// CatalogService sells nothing itself: it holds the products sellers publish and answers the
// reads consumers make (lists, details, search, views). Its data is its own PostgreSQL database.
var CatalogService = Service{Name: "catalog", Version: "1.0.0", Major: 1,
	Description: "subscription products: publish, browse, search, views"}

// BillingPeriod is how often a subscription to a product is charged.
type BillingPeriod string

// The billing periods a product may have.
const (
	BillingWeekly    BillingPeriod = "weekly"
	BillingMonthly   BillingPeriod = "monthly"
	BillingQuarterly BillingPeriod = "quarterly"
	BillingYearly    BillingPeriod = "yearly"
)

// Valid reports whether p is one of the declared periods.
func (p BillingPeriod) Valid() bool {
	switch p {
	case BillingWeekly, BillingMonthly, BillingQuarterly, BillingYearly:
		return true
	}
	return false
}

// EnumValues lists the billing periods (see Enumerated).
func (BillingPeriod) EnumValues() []string {
	return []string{string(BillingWeekly), string(BillingMonthly), string(BillingQuarterly), string(BillingYearly)}
}

// ProductSort orders product lists.
type ProductSort string

// The sorts of list_products. Every sort ends with the product id, so pages never skip or
// repeat a product that ties on the sort key.
const (
	SortNewest    ProductSort = "newest"     // created_at desc (the default)
	SortPriceAsc  ProductSort = "price_asc"  // price_amount asc
	SortPriceDesc ProductSort = "price_desc" // price_amount desc
	SortPopular   ProductSort = "popular"    // views desc
)

// Valid reports whether s is a declared sort.
func (s ProductSort) Valid() bool {
	switch s {
	case SortNewest, SortPriceAsc, SortPriceDesc, SortPopular:
		return true
	}
	return false
}

// EnumValues lists the sorts (see Enumerated).
func (ProductSort) EnumValues() []string {
	return []string{string(SortNewest), string(SortPriceAsc), string(SortPriceDesc), string(SortPopular)}
}

// Limits of product fields. They keep one product detail well under the NATS payload limit and
// a full list page (summaries) under a few hundred KiB.
const (
	MaxTitleLen       = 120   // runes
	MaxDescriptionLen = 4000  // runes
	MaxTermsLen       = 20000 // runes
	MaxTags           = 10
	MaxTagLen         = 32 // runes
	MaxImages         = 8
	MaxImageURLLen    = 1024 // bytes
	MaxPriceAmount    = int64(1_000_000_000_000)
	MaxCapacity       = 1_000_000
	MaxPageSize       = 50
	DefaultPageSize   = 20
	MaxSearchQueryLen = 100 // runes
	MaxCursorLen      = 512
)

// Product is the full view of a product (get_product, events). Prices are integer minor units
// of an ISO 4217 currency (KRW has none: 5900 KRW is 5900; 9.99 USD is 999).
type Product struct {
	ID            string        `json:"id"`
	SellerID      string        `json:"seller_id"`
	Title         string        `json:"title"`
	Description   string        `json:"description"`
	PriceAmount   int64         `json:"price_amount"`
	Currency      string        `json:"currency"`
	BillingPeriod BillingPeriod `json:"billing_period"`
	Terms         string        `json:"terms"`
	// TermsVersion starts at 1 and grows by one whenever the terms text changes, so a
	// subscription can record which terms the consumer accepted.
	TermsVersion int      `json:"terms_version"`
	Capacity     int      `json:"capacity"`
	SeatsTaken   int      `json:"seats_taken"`
	Tags         []string `json:"tags"`
	ImageURLs    []string `json:"image_urls"`
	// Views counts distinct viewers per 24 hours. Cached reads may show a count that is
	// behind by up to the cache TTL.
	Views int64 `json:"views"`
	// Version grows with every change; update_product can require it (optimistic locking).
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ProductSummary is a product as lists show it: no description or terms, only the cover image.
type ProductSummary struct {
	ID            string        `json:"id"`
	SellerID      string        `json:"seller_id"`
	Title         string        `json:"title"`
	PriceAmount   int64         `json:"price_amount"`
	Currency      string        `json:"currency"`
	BillingPeriod BillingPeriod `json:"billing_period"`
	TermsVersion  int           `json:"terms_version"`
	Capacity      int           `json:"capacity"`
	SeatsTaken    int           `json:"seats_taken"`
	Tags          []string      `json:"tags"`
	ImageURL      string        `json:"image_url,omitempty"`
	Views         int64         `json:"views"`
	CreatedAt     time.Time     `json:"created_at"`
}

// ProductPage is one page of a product list. NextCursor is empty on the last page; it is
// opaque and only valid with the same sort and filters.
type ProductPage struct {
	Items      []ProductSummary `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// CreateProductRequest publishes a product. The seller is the caller (from the access token),
// never a field of the request.
type CreateProductRequest struct {
	Title         string        `json:"title"`
	Description   string        `json:"description,omitempty"`
	PriceAmount   int64         `json:"price_amount"`
	Currency      string        `json:"currency"`
	BillingPeriod BillingPeriod `json:"billing_period"`
	Terms         string        `json:"terms"`
	Capacity      int           `json:"capacity"`
	Tags          []string      `json:"tags,omitempty"`
	ImageURLs     []string      `json:"image_urls,omitempty"`
}

// Validate checks every field against the product rules.
func (r CreateProductRequest) Validate() error {
	return catFirstErr(
		ValidateTitle(r.Title), ValidateDescription(r.Description), ValidatePrice(r.PriceAmount),
		ValidateActiveCurrency("currency", r.Currency), ValidateBillingPeriod(r.BillingPeriod),
		ValidateTerms(r.Terms), ValidateCapacity(r.Capacity), ValidateTags(r.Tags), ValidateImageURLs(r.ImageURLs),
	)
}

// Rules states Validate's rules (see Rules).
func (CreateProductRequest) Rules() Rules { return Rules{Fields: productRules} }

// UpdateProductRequest changes some fields of a product; absent fields keep their value. Tags
// and image_urls replace the whole list ([] clears it).
type UpdateProductRequest struct {
	ID            string         `json:"id"`
	Title         *string        `json:"title,omitempty"`
	Description   *string        `json:"description,omitempty"`
	PriceAmount   *int64         `json:"price_amount,omitempty"`
	Currency      *string        `json:"currency,omitempty"`
	BillingPeriod *BillingPeriod `json:"billing_period,omitempty"`
	Terms         *string        `json:"terms,omitempty"`
	Capacity      *int           `json:"capacity,omitempty"`
	Tags          *[]string      `json:"tags,omitempty"`
	ImageURLs     *[]string      `json:"image_urls,omitempty"`
	// ExpectedVersion, when set, makes the update fail with conflict unless the product is
	// still at that version.
	ExpectedVersion int64 `json:"expected_version,omitempty"`
}

// Validate checks the fields that are present.
func (r UpdateProductRequest) Validate() error {
	if err := ValidateProductID("id", r.ID); err != nil {
		return err
	}
	if r.Title == nil && r.Description == nil && r.PriceAmount == nil && r.Currency == nil &&
		r.BillingPeriod == nil && r.Terms == nil && r.Capacity == nil && r.Tags == nil && r.ImageURLs == nil {
		return ErrValidation.Msg("the update changes no field")
	}
	if r.ExpectedVersion < 0 {
		return ErrValidation.OnField("expected_version", "expected_version must not be negative")
	}
	var errs []error
	if r.Title != nil {
		errs = append(errs, ValidateTitle(*r.Title))
	}
	if r.Description != nil {
		errs = append(errs, ValidateDescription(*r.Description))
	}
	if r.PriceAmount != nil {
		errs = append(errs, ValidatePrice(*r.PriceAmount))
	}
	if r.Currency != nil {
		// Only the shape: a product keeps a currency ISO has since retired, so an update may
		// repeat it; the catalog checks the list when the currency changes.
		errs = append(errs, ValidateCurrency("currency", *r.Currency))
	}
	if r.BillingPeriod != nil {
		errs = append(errs, ValidateBillingPeriod(*r.BillingPeriod))
	}
	if r.Terms != nil {
		errs = append(errs, ValidateTerms(*r.Terms))
	}
	if r.Capacity != nil {
		errs = append(errs, ValidateCapacity(*r.Capacity))
	}
	if r.Tags != nil {
		errs = append(errs, ValidateTags(*r.Tags))
	}
	if r.ImageURLs != nil {
		errs = append(errs, ValidateImageURLs(*r.ImageURLs))
	}
	return catFirstErr(errs...)
}

// Rules states Validate's rules (see Rules): the product rules for the fields present, and at
// least one field to change. The currency is checked against the active list only when it
// changes (x-moa-checks).
func (UpdateProductRequest) Rules() Rules {
	f := fields("id", ruleUUID, "expected_version", Rule{Min: ptr64(0)})
	var changes []string
	for name, r := range productRules {
		f[name] = r
		changes = append(changes, name)
	}
	sort.Strings(changes)
	f["currency"] = Rule{Pattern: PatternCurrency, Example: "KRW"}
	return Rules{Fields: f, AnyOfRequired: changes,
		Checks: []Check{{Field: "currency", Rule: "a new currency is an active ISO 4217 code (the enum of create_product); the product's current one may be repeated"}}}
}

// ProductRef names one product.
type ProductRef struct {
	ID string `json:"id"`
}

// Validate checks the id.
func (r ProductRef) Validate() error { return ValidateProductID("id", r.ID) }

// Rules states Validate's rules (see Rules).
func (ProductRef) Rules() Rules { return Rules{Fields: fields("id", ruleUUID)} }

// ListProductsRequest asks for one page of products. Price bounds are inclusive, in minor units,
// and only meaningful with a currency.
type ListProductsRequest struct {
	Tag      string      `json:"tag,omitempty"`
	Currency string      `json:"currency,omitempty"`
	MinPrice *int64      `json:"min_price,omitempty"`
	MaxPrice *int64      `json:"max_price,omitempty"`
	Sort     ProductSort `json:"sort,omitempty"`
	Limit    int         `json:"limit,omitempty"`
	Cursor   string      `json:"cursor,omitempty"`
}

// Validate checks filters, sort, limit and the cursor's size (its content is checked by the
// service, which alone can read it).
func (r ListProductsRequest) Validate() error {
	if r.Tag != "" {
		if err := catValidateTag("tag", r.Tag); err != nil {
			return err
		}
	}
	if r.Currency != "" {
		if err := ValidateCurrency("currency", r.Currency); err != nil {
			return err
		}
	}
	if (r.MinPrice != nil || r.MaxPrice != nil) && r.Currency == "" {
		return ErrValidation.OnField("currency", "a price filter needs a currency")
	}
	if r.MinPrice != nil && (*r.MinPrice < 0 || *r.MinPrice > MaxPriceAmount) {
		return ErrValidation.OnField("min_price", "min_price must be between 0 and %d", MaxPriceAmount)
	}
	if r.MaxPrice != nil && (*r.MaxPrice < 0 || *r.MaxPrice > MaxPriceAmount) {
		return ErrValidation.OnField("max_price", "max_price must be between 0 and %d", MaxPriceAmount)
	}
	if r.MinPrice != nil && r.MaxPrice != nil && *r.MinPrice > *r.MaxPrice {
		return ErrValidation.OnField("max_price", "max_price must not be below min_price")
	}
	if r.Sort != "" && !r.Sort.Valid() {
		return ErrValidation.OnField("sort", "sort must be one of %s", strings.Join(ProductSort("").EnumValues(), ", "))
	}
	return catFirstErr(catValidateLimit(r.Limit), catValidateCursor(r.Cursor))
}

// Rules states Validate's rules (see Rules). A price bound needs a currency.
func (ListProductsRequest) Rules() Rules {
	return Rules{
		Fields: fields(
			"tag", optional(ruleTag),
			"currency", optional(Rule{Pattern: PatternCurrency, Example: "KRW"}),
			"min_price", rangeRule(0, MaxPriceAmount),
			"max_price", rangeRule(0, MaxPriceAmount),
			"sort", optional(Rule{Enum: ProductSort("").EnumValues()}),
			"limit", ruleLimit,
			"cursor", ruleCursor,
		),
		DependentRequired: map[string][]string{"min_price": {"currency"}, "max_price": {"currency"}},
		Checks:            []Check{{Field: "max_price", Rule: "max_price must not be below min_price"}, checkCursor},
	}
}

// SearchProductsRequest searches titles, descriptions and tags. Words match whole or by prefix
// and by substring, so short words and Korean words without spaces match too.
type SearchProductsRequest struct {
	Query  string `json:"query"`
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate checks the query, limit and cursor size.
func (r SearchProductsRequest) Validate() error {
	q := strings.TrimSpace(r.Query)
	if q == "" {
		return ErrValidation.OnField("query", "query must not be empty")
	}
	if n := utf8.RuneCountInString(q); n > MaxSearchQueryLen {
		return ErrValidation.OnField("query", "query is longer than %d characters", MaxSearchQueryLen)
	}
	if err := catCheckText("query", q); err != nil {
		return err
	}
	return catFirstErr(catValidateLimit(r.Limit), catValidateCursor(r.Cursor))
}

// Rules states Validate's rules (see Rules).
func (SearchProductsRequest) Rules() Rules {
	return Rules{Fields: fields(
		"query", Rule{MinLength: 1, MaxLength: MaxSearchQueryLen, Pattern: PatternLine, Example: "yoga"},
		"limit", ruleLimit, "cursor", ruleCursor), Checks: []Check{checkCursor}}
}

// ViewProductRequest counts one view. The viewer is the signed-in user; anonymous callers (the
// edge, for visitors) pass a viewer_id of their own, which is only used to deduplicate views.
type ViewProductRequest struct {
	ID       string `json:"id"`
	ViewerID string `json:"viewer_id,omitempty"`
}

// Validate checks the id and the viewer id's shape.
func (r ViewProductRequest) Validate() error {
	if err := ValidateProductID("id", r.ID); err != nil {
		return err
	}
	if len(r.ViewerID) > maxViewerIDLen {
		return ErrValidation.OnField("viewer_id", "viewer_id is longer than %d bytes", maxViewerIDLen)
	}
	return catCheckText("viewer_id", r.ViewerID)
}

// maxViewerIDLen bounds ViewProductRequest.ViewerID, in bytes.
const maxViewerIDLen = 128

// Rules states Validate's rules (see Rules).
func (ViewProductRequest) Rules() Rules {
	return Rules{Fields: fields("id", ruleUUID,
		"viewer_id", Rule{MaxLength: maxViewerIDLen, MaxBytes: maxViewerIDLen, Pattern: PatternNoControl})}
}

// ViewProductResponse tells whether this view was counted (the first by this viewer in 24 h).
type ViewProductResponse struct {
	Views   int64 `json:"views"`
	Counted bool  `json:"counted"`
}

// PageRequest asks for one page of an unfiltered list (popular_products, my_products).
type PageRequest struct {
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate checks limit and cursor size.
func (r PageRequest) Validate() error {
	return catFirstErr(catValidateLimit(r.Limit), catValidateCursor(r.Cursor))
}

// Rules states Validate's rules (see Rules).
func (PageRequest) Rules() Rules {
	return Rules{Fields: fields("limit", ruleLimit, "cursor", ruleCursor), Checks: []Check{checkCursor}}
}

// Catalog endpoints. Writes need a seller's access token (bus.WithAuthToken); reads are public.
var (
	CatalogCreateProduct = Endpoint[CreateProductRequest, Product]{Service: CatalogService, Name: "create_product", Access: AccessSeller,
		Description: "a seller publishes a product (seller token)"}
	CatalogUpdateProduct = Endpoint[UpdateProductRequest, Product]{Service: CatalogService, Name: "update_product", Access: AccessSeller, Owner: true,
		Description: "the owning seller changes fields of a product"}
	CatalogDeleteProduct = Endpoint[ProductRef, Empty]{Service: CatalogService, Name: "delete_product", Access: AccessSeller, Owner: true,
		Description: "the owning seller deletes a product that has no seats taken"}
	CatalogGetProduct = Endpoint[ProductRef, Product]{Service: CatalogService, Name: "get_product", Access: AccessAnonymous, Idempotent: true,
		Description: "one product (cached)"}
	CatalogListProducts = Endpoint[ListProductsRequest, ProductPage]{Service: CatalogService, Name: "list_products", Access: AccessAnonymous, Idempotent: true,
		Description: "products by keyset pages, filtered by tag and price, sorted (cached)"}
	CatalogSearchProducts = Endpoint[SearchProductsRequest, ProductPage]{Service: CatalogService, Name: "search_products", Access: AccessAnonymous | AccessSignedIn, Idempotent: true,
		Description: "full-text and trigram search; signed-in searches are recorded as catalog.searched"}
	CatalogViewProduct = Endpoint[ViewProductRequest, ViewProductResponse]{Service: CatalogService, Name: "view_product", Access: AccessAnonymous | AccessSignedIn, Idempotent: true,
		Description: "counts a view, once per viewer per product per 24 h"}
	CatalogPopularProducts = Endpoint[PageRequest, ProductPage]{Service: CatalogService, Name: "popular_products", Access: AccessAnonymous, Idempotent: true,
		Description: "most viewed products"}
	CatalogMyProducts = Endpoint[PageRequest, ProductPage]{Service: CatalogService, Name: "my_products", Access: AccessSeller, Idempotent: true,
		Description: "the calling seller's products, newest first"}
)

// ProductCreatedData is the body of catalog.product_created.
type ProductCreatedData struct {
	Product Product `json:"product"`
}

// ProductChangedData is the body of catalog.product_changed: the product after the change and
// the JSON names of the fields that changed.
type ProductChangedData struct {
	Product Product  `json:"product"`
	Changed []string `json:"changed"`
}

// ProductTermsChangedData is the body of catalog.product_terms_changed, emitted besides
// product_changed when the terms text changed.
type ProductTermsChangedData struct {
	ProductID       string `json:"product_id"`
	SellerID        string `json:"seller_id"`
	TermsVersion    int    `json:"terms_version"`
	PreviousVersion int    `json:"previous_version"`
	Terms           string `json:"terms"`
}

// ProductDeletedData is the body of catalog.product_deleted.
type ProductDeletedData struct {
	ProductID string    `json:"product_id"`
	SellerID  string    `json:"seller_id"`
	DeletedAt time.Time `json:"deleted_at"`
}

// SearchedData is the body of catalog.searched: a signed-in user searched the catalog.
type SearchedData struct {
	UserID string    `json:"user_id"`
	Query  string    `json:"query"`
	At     time.Time `json:"at"`
}

// Catalog events, keyed by product id (catalog.searched by user id), on StreamCatalog. They are
// emitted through the catalog's outbox, so each one is published if and only if its change
// committed.
var (
	ProductCreated      = Event[ProductCreatedData]{Stream: StreamCatalog, Domain: "catalog", Name: "product_created", Version: 1}
	ProductChanged      = Event[ProductChangedData]{Stream: StreamCatalog, Domain: "catalog", Name: "product_changed", Version: 1}
	ProductTermsChanged = Event[ProductTermsChangedData]{Stream: StreamCatalog, Domain: "catalog", Name: "product_terms_changed", Version: 1}
	ProductDeleted      = Event[ProductDeletedData]{Stream: StreamCatalog, Domain: "catalog", Name: "product_deleted", Version: 1}
	CatalogSearched     = Event[SearchedData]{Stream: StreamCatalog, Domain: "catalog", Name: "searched", Version: 1}
)

// ValidateProductID checks that id looks like a product id (a UUID).
func ValidateProductID(field, id string) error {
	if id == "" {
		return ErrValidation.OnField(field, "%s must not be empty", field)
	}
	if len(id) != 36 {
		return ErrValidation.OnField(field, "%s is not a product id", field)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		dash := i == 8 || i == 13 || i == 18 || i == 23
		if dash != (c == '-') || (!dash && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
			return ErrValidation.OnField(field, "%s is not a product id", field)
		}
	}
	return nil
}

// ValidateTitle checks a product title.
func ValidateTitle(s string) error {
	if strings.TrimSpace(s) == "" {
		return ErrValidation.OnField("title", "title must not be empty")
	}
	if utf8.RuneCountInString(s) > MaxTitleLen {
		return ErrValidation.OnField("title", "title is longer than %d characters", MaxTitleLen)
	}
	return catCheckText("title", s)
}

// ValidateDescription checks a product description (may be empty).
func ValidateDescription(s string) error {
	if utf8.RuneCountInString(s) > MaxDescriptionLen {
		return ErrValidation.OnField("description", "description is longer than %d characters", MaxDescriptionLen)
	}
	return catCheckMultiline("description", s)
}

// ValidatePrice checks a price in minor units.
func ValidatePrice(v int64) error {
	if v < 0 || v > MaxPriceAmount {
		return ErrValidation.OnField("price_amount", "price_amount must be between 0 and %d minor units", MaxPriceAmount)
	}
	return nil
}

// ValidateCurrency checks the shape of an ISO 4217 code: three upper-case letters. Filters
// and the prices of existing products may name any such code.
func ValidateCurrency(field, s string) error {
	if len(s) != 3 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return ErrValidation.OnField(field, "%s must be an ISO 4217 code such as KRW or USD", field)
	}
	return nil
}

// ValidateActiveCurrency checks that s is a currency a product may be newly priced in: an
// active ISO 4217 code (ActiveCurrencies).
func ValidateActiveCurrency(field, s string) error {
	if err := ValidateCurrency(field, s); err != nil {
		return err
	}
	if !IsActiveCurrency(s) {
		return ErrValidation.OnField(field, "%s %q is not an ISO 4217 currency code (such as KRW, USD or EUR)", field, s)
	}
	return nil
}

// ValidateBillingPeriod checks the billing period.
func ValidateBillingPeriod(p BillingPeriod) error {
	if !p.Valid() {
		return ErrValidation.OnField("billing_period", "billing_period must be one of %s", strings.Join(BillingPeriod("").EnumValues(), ", "))
	}
	return nil
}

// ValidateTerms checks the terms text.
func ValidateTerms(s string) error {
	if strings.TrimSpace(s) == "" {
		return ErrValidation.OnField("terms", "terms must not be empty")
	}
	if utf8.RuneCountInString(s) > MaxTermsLen {
		return ErrValidation.OnField("terms", "terms are longer than %d characters", MaxTermsLen)
	}
	return catCheckMultiline("terms", s)
}

// ValidateCapacity checks the seat count.
func ValidateCapacity(n int) error {
	if n < 1 || n > MaxCapacity {
		return ErrValidation.OnField("capacity", "capacity must be between 1 and %d seats", MaxCapacity)
	}
	return nil
}

// ValidateTags checks the tag list: at most MaxTags tags of letters, digits, '-' and '_'.
func ValidateTags(tags []string) error {
	if len(tags) > MaxTags {
		return ErrValidation.OnField("tags", "at most %d tags", MaxTags)
	}
	for _, t := range tags {
		if err := catValidateTag("tags", t); err != nil {
			return err
		}
	}
	return nil
}

func catValidateTag(field, t string) error {
	t = strings.TrimSpace(t)
	if t == "" || utf8.RuneCountInString(t) > MaxTagLen {
		return ErrValidation.OnField(field, "a tag must have 1 to %d characters", MaxTagLen)
	}
	for _, r := range t {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' {
			return ErrValidation.OnField(field, "tag %q may only contain letters, digits, '-' and '_'", t)
		}
	}
	return nil
}

// ValidateImageURLs checks image URLs: absolute http or https URLs with a host.
func ValidateImageURLs(urls []string) error {
	if len(urls) > MaxImages {
		return ErrValidation.OnField("image_urls", "at most %d images", MaxImages)
	}
	for _, s := range urls {
		if len(s) > MaxImageURLLen {
			return ErrValidation.OnField("image_urls", "an image URL is longer than %d bytes", MaxImageURLLen)
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return ErrValidation.OnField("image_urls", "%q is not an http or https URL", s)
		}
	}
	return nil
}

func catValidateLimit(n int) error {
	if n < 0 || n > MaxPageSize {
		return ErrValidation.OnField("limit", "limit must be between 1 and %d (0 means %d)", MaxPageSize, DefaultPageSize)
	}
	return nil
}

func catValidateCursor(c string) error {
	if len(c) > MaxCursorLen {
		return ErrValidation.OnField("cursor", "cursor is not valid")
	}
	return nil
}

// catCheckText rejects invalid UTF-8 and control characters in one-line text.
func catCheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return ErrValidation.OnField(field, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return ErrValidation.OnField(field, "%s contains a control character", field)
		}
	}
	return nil
}

// catCheckMultiline is catCheckText that allows line breaks and tabs.
func catCheckMultiline(field, s string) error {
	if !utf8.ValidString(s) {
		return ErrValidation.OnField(field, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return ErrValidation.OnField(field, "%s contains a control character", field)
		}
	}
	return nil
}

func catFirstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func init() {
	register(CatalogCreateProduct, CatalogUpdateProduct, CatalogDeleteProduct, CatalogGetProduct,
		CatalogListProducts, CatalogSearchProducts, CatalogViewProduct, CatalogPopularProducts, CatalogMyProducts,
		ProductCreated, ProductChanged, ProductTermsChanged, ProductDeleted, CatalogSearched)
}
