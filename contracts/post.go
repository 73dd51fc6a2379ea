package contracts

import (
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// PostService is the blog: writers publish posts (markdown rendered to sanitised HTML) in
// categories with tags, and signed-in readers comment on them, one level deep. Its data is its
// own PostgreSQL database; its events (evt.post.>) are for the blog's log and notify services.
var PostService = Service{Name: "post", Version: "1.0.0", Major: 1,
	Description: "blog posts, categories and comments: write, publish, browse, search, comment"}

// PostStatus says whether a post is visible to readers.
type PostStatus string

// The statuses of a post. Only published posts are listed, searched and commented on; a
// draft is seen by its author alone.
const (
	PostStatusDraft     PostStatus = "draft"
	PostStatusPublished PostStatus = "published"
)

// Valid reports whether s is a declared status.
func (s PostStatus) Valid() bool { return s == PostStatusDraft || s == PostStatusPublished }

// EnumValues lists the statuses (see Enumerated).
func (PostStatus) EnumValues() []string {
	return []string{string(PostStatusDraft), string(PostStatusPublished)}
}

// CommentModeration is what a post's author does to a comment on it.
type CommentModeration string

// The moderation actions. A hidden comment keeps its place in the thread, with its body shown
// only to the post's author; a deleted one is gone (a placeholder stays while it has replies).
const (
	ModerateHide   CommentModeration = "hide"
	ModerateUnhide CommentModeration = "unhide"
	ModerateDelete CommentModeration = "delete"
)

// Valid reports whether m is a declared action.
func (m CommentModeration) Valid() bool {
	return m == ModerateHide || m == ModerateUnhide || m == ModerateDelete
}

// EnumValues lists the moderation actions (see Enumerated).
func (CommentModeration) EnumValues() []string {
	return []string{string(ModerateHide), string(ModerateUnhide), string(ModerateDelete)}
}

// Limits of blog fields. A post's markdown and its HTML together stay well under the NATS
// payload limit.
const (
	MaxPostTitleLen    = 200     // runes
	MaxPostBodyLen     = 100_000 // bytes of markdown
	MaxSlugLen         = 80      // runes
	MaxCategoryNameLen = 60      // runes
	MaxCoverImageIDLen = 64      // bytes
	MaxCommentLen      = 2000    // runes
	MaxExcerptLen      = 200     // runes

	// MaxCategories bounds the blog's categories, so that list_categories, which answers
	// every one of them in one reply, stays under the payload limit. create_category past it
	// is refused with conflict.
	MaxCategories = 200
)

// Patterns of blog fields, tested by rules_test against the Go checks they state.
const (
	// slugChar is a character of a slug word: lower-case ASCII letters, digits and the
	// Hangul syllables (U+AC00 to U+D7A3), written as themselves because RE2 and ECMA-262
	// spell escapes differently.
	slugChar = `[a-z0-9` + "\uac00-\ud7a3" + `]`
	// PatternSlug is a post or category slug (ValidateSlug): words of slug characters joined
	// by single hyphens, no leading or trailing hyphen.
	PatternSlug = `^` + slugChar + `+(-` + slugChar + `+)*$`
	// PatternCoverImageID is a cover image id (ValidateCoverImageID), possibly empty: ASCII
	// letters, digits, '-' and '_'.
	PatternCoverImageID = `^[A-Za-z0-9_-]*$`
)

// Rules of blog fields, written from the limits and patterns Validate uses.
var (
	ruleSlug     = Rule{MinLength: 1, MaxLength: MaxSlugLen, Pattern: PatternSlug, Example: "hello-세계-2"}
	ruleCategory = Rule{MinLength: 1, MaxLength: MaxSlugLen, Pattern: PatternSlug, Example: "travel"}
	// postRules are the fields of create_post, and of update_post when present.
	postRules = map[string]Rule{
		"slug":     ruleSlug,
		"title":    {MinLength: 1, MaxLength: MaxPostTitleLen, Pattern: PatternLine, Example: "Hello, world"},
		"body":     {MaxLength: MaxPostBodyLen, MaxBytes: MaxPostBodyLen, Pattern: PatternMultiline, Example: "# Hello\n\nSome *markdown*."},
		"category": optional(ruleCategory),
		"tags":     {MaxItems: MaxTags, Items: &ruleTag},
		"cover_image_id": {MaxLength: MaxCoverImageIDLen, MaxBytes: MaxCoverImageIDLen, Pattern: PatternCoverImageID,
			Example: "img_01"},
	}
	ruleCommentBody = Rule{MinLength: 1, MaxLength: MaxCommentLen, Pattern: PatternMultilineText, Example: "Nice post!"}
	// checkCategory: a post's category must exist, which only the service knows.
	checkCategory = Check{Field: "category", Rule: "the slug of an existing category (list_categories), or empty for none"}
)

// Post is the full view of a post. HTML is the body rendered from markdown and sanitised: no
// script, no event handler, no javascript: or data: URL survives it, so clients may insert it
// as is. Body is the markdown the writer wrote.
type Post struct {
	ID           string     `json:"id"`
	AuthorID     string     `json:"author_id"`
	Slug         string     `json:"slug"`
	Title        string     `json:"title"`
	Body         string     `json:"body"`
	HTML         string     `json:"html"`
	Category     string     `json:"category,omitempty"`
	Tags         []string   `json:"tags"`
	Status       PostStatus `json:"status"`
	CoverImageID string     `json:"cover_image_id,omitempty"`
	// Version grows with every change; update_post can require it (optimistic locking).
	Version     int64      `json:"version"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
}

// PostSummary is a post as lists and events show it: an excerpt of the text instead of the body.
// Excerpt is plain text cut from the rendered post, never HTML: clients show it as text, and
// any '<' in it is a character, not markup.
type PostSummary struct {
	ID           string     `json:"id"`
	AuthorID     string     `json:"author_id"`
	Slug         string     `json:"slug"`
	Title        string     `json:"title"`
	Excerpt      string     `json:"excerpt"`
	Category     string     `json:"category,omitempty"`
	Tags         []string   `json:"tags"`
	Status       PostStatus `json:"status"`
	CoverImageID string     `json:"cover_image_id,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	PublishedAt  *time.Time `json:"published_at,omitempty"`
}

// PostPage is one page of a post list. NextCursor is empty on the last page; it is opaque and
// only valid with the same filters.
type PostPage struct {
	Items      []PostSummary `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// CreatePostRequest writes a post, as a draft unless Publish. The author is the caller.
type CreatePostRequest struct {
	Slug         string   `json:"slug"`
	Title        string   `json:"title"`
	Body         string   `json:"body"`
	Category     string   `json:"category,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	CoverImageID string   `json:"cover_image_id,omitempty"`
	Publish      bool     `json:"publish,omitempty"`
}

// Validate checks every field against the post rules.
func (r CreatePostRequest) Validate() error {
	return catFirstErr(ValidateSlug("slug", r.Slug), ValidatePostTitle(r.Title), ValidatePostBody(r.Body),
		validateCategoryRef(r.Category), ValidateTags(r.Tags), ValidateCoverImageID(r.CoverImageID))
}

// Rules states Validate's rules (see Rules). The category must exist (x-moa-checks).
func (CreatePostRequest) Rules() Rules {
	return Rules{Fields: postRules, Checks: []Check{checkCategory}}
}

// UpdatePostRequest changes some fields of a post; absent fields keep their value. Tags
// replace the whole list ([] clears it); an empty category or cover image id clears it.
// Status moves a draft to published or back.
type UpdatePostRequest struct {
	ID           string      `json:"id"`
	Slug         *string     `json:"slug,omitempty"`
	Title        *string     `json:"title,omitempty"`
	Body         *string     `json:"body,omitempty"`
	Category     *string     `json:"category,omitempty"`
	Tags         *[]string   `json:"tags,omitempty"`
	CoverImageID *string     `json:"cover_image_id,omitempty"`
	Status       *PostStatus `json:"status,omitempty"`
	// ExpectedVersion, when set, makes the update fail with conflict unless the post is still
	// at that version.
	ExpectedVersion int64 `json:"expected_version,omitempty"`
}

// Validate checks the fields that are present.
func (r UpdatePostRequest) Validate() error {
	if err := ValidatePostID("id", r.ID); err != nil {
		return err
	}
	if r.Slug == nil && r.Title == nil && r.Body == nil && r.Category == nil && r.Tags == nil &&
		r.CoverImageID == nil && r.Status == nil {
		return ErrValidation.Msg("the update changes no field")
	}
	if r.ExpectedVersion < 0 {
		return ErrValidation.OnField("expected_version", "expected_version must not be negative")
	}
	var errs []error
	if r.Slug != nil {
		errs = append(errs, ValidateSlug("slug", *r.Slug))
	}
	if r.Title != nil {
		errs = append(errs, ValidatePostTitle(*r.Title))
	}
	if r.Body != nil {
		errs = append(errs, ValidatePostBody(*r.Body))
	}
	if r.Category != nil {
		errs = append(errs, validateCategoryRef(*r.Category))
	}
	if r.Tags != nil {
		errs = append(errs, ValidateTags(*r.Tags))
	}
	if r.CoverImageID != nil {
		errs = append(errs, ValidateCoverImageID(*r.CoverImageID))
	}
	if r.Status != nil && !r.Status.Valid() {
		errs = append(errs, ErrValidation.OnField("status", "status must be %q or %q", PostStatusDraft, PostStatusPublished))
	}
	return catFirstErr(errs...)
}

// Rules states Validate's rules (see Rules): the post rules for the fields present, and at
// least one field to change.
func (UpdatePostRequest) Rules() Rules {
	f := fields("id", ruleUUID, "expected_version", Rule{Min: ptr64(0)}, "status", Rule{Enum: PostStatus("").EnumValues()})
	changes := []string{"status"}
	for name, r := range postRules {
		f[name] = r
		changes = append(changes, name)
	}
	sort.Strings(changes)
	return Rules{Fields: f, AnyOfRequired: changes, Checks: []Check{checkCategory}}
}

// PostRef names one post by id.
type PostRef struct {
	ID string `json:"id"`
}

// Validate checks the id.
func (r PostRef) Validate() error { return ValidatePostID("id", r.ID) }

// Rules states Validate's rules (see Rules).
func (PostRef) Rules() Rules { return Rules{Fields: fields("id", ruleUUID)} }

// GetPostRequest names one post by id or by slug (exactly one of them).
type GetPostRequest struct {
	ID   string `json:"id,omitempty"`
	Slug string `json:"slug,omitempty"`
}

// Validate checks the form of id and slug, then that exactly one of them is given. The forms
// come first so that a malformed field is named as such even when both are given.
func (r GetPostRequest) Validate() error {
	if r.ID != "" {
		if err := ValidatePostID("id", r.ID); err != nil {
			return err
		}
	}
	if r.Slug != "" {
		if err := ValidateSlug("slug", r.Slug); err != nil {
			return err
		}
	}
	switch {
	case r.ID != "" && r.Slug != "":
		return ErrValidation.OnField("slug", "give id or slug, not both")
	case r.ID == "" && r.Slug == "":
		return ErrValidation.OnField("id", "give id or slug")
	}
	return nil
}

// Rules states Validate's rules (see Rules): id or slug; that not both are given is in
// x-moa-checks.
func (GetPostRequest) Rules() Rules {
	return Rules{Fields: fields("id", optional(ruleUUID), "slug", optional(ruleSlug)),
		AnyOfRequired: []string{"id", "slug"},
		Checks:        []Check{{Field: "slug", Rule: "give id or slug, not both"}}}
}

// ListPostsRequest asks for one page of published posts, newest first, optionally of one
// category or with one tag.
type ListPostsRequest struct {
	Category string `json:"category,omitempty"`
	Tag      string `json:"tag,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
}

// Validate checks filters, limit and the cursor's size.
func (r ListPostsRequest) Validate() error {
	if r.Tag != "" {
		if err := catValidateTag("tag", r.Tag); err != nil {
			return err
		}
	}
	return catFirstErr(validateCategoryRef(r.Category), catValidateLimit(r.Limit), catValidateCursor(r.Cursor))
}

// Rules states Validate's rules (see Rules). An unknown category lists no post.
func (ListPostsRequest) Rules() Rules {
	return Rules{Fields: fields("category", optional(ruleCategory), "tag", optional(ruleTag),
		"limit", ruleLimit, "cursor", ruleCursor), Checks: []Check{checkCursor}}
}

// SearchPostsRequest searches published posts' titles, bodies and tags, in Korean and English:
// words match whole, by prefix and by substring (Korean compounds), and nearly (typos).
type SearchPostsRequest struct {
	Query  string `json:"query"`
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate checks the query, limit and cursor size.
func (r SearchPostsRequest) Validate() error {
	return SearchProductsRequest(r).Validate()
}

// Rules states Validate's rules (see Rules), those of search_products.
func (r SearchPostsRequest) Rules() Rules { return SearchProductsRequest(r).Rules() }

// Category groups posts. Slug names it in posts and filters.
type Category struct {
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// CategoryList is every category, by name.
type CategoryList struct {
	Items []Category `json:"items"`
}

// CreateCategoryRequest adds a category (writers).
type CreateCategoryRequest struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// Validate checks slug and name.
func (r CreateCategoryRequest) Validate() error {
	if err := ValidateSlug("slug", r.Slug); err != nil {
		return err
	}
	return ValidateCategoryName(r.Name)
}

// Rules states Validate's rules (see Rules). The name's form is its normal form: the service
// trims white space around it before counting.
func (CreateCategoryRequest) Rules() Rules {
	return Rules{Fields: fields("slug", ruleCategory,
		"name", Rule{MinLength: 1, MaxLength: MaxCategoryNameLen, Pattern: PatternLine, Example: "Travel"})}
}

// ValidateCategoryName checks a category's display name.
func ValidateCategoryName(s string) error {
	n := strings.TrimSpace(s)
	if n == "" || utf8.RuneCountInString(n) > MaxCategoryNameLen {
		return ErrValidation.OnField("name", "name must have 1 to %d characters", MaxCategoryNameLen)
	}
	return catCheckText("name", s)
}

// Comment is one comment. ParentID is empty for a top-level comment; a reply's parent is
// always top-level. Body is plain text: clients show it as text, never as HTML. Hidden
// comments have an empty body except for the post's author; deleted ones (shown only while
// they have replies) have an empty body for everyone.
type Comment struct {
	ID         string    `json:"id"`
	PostID     string    `json:"post_id"`
	ParentID   string    `json:"parent_id,omitempty"`
	AuthorID   string    `json:"author_id"`
	AuthorName string    `json:"author_name"`
	Body       string    `json:"body"`
	Hidden     bool      `json:"hidden,omitempty"`
	Deleted    bool      `json:"deleted,omitempty"`
	Edited     bool      `json:"edited,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// CommentPage is one page of a post's comments in thread order: each top-level comment,
// oldest first, followed by its replies, oldest first.
type CommentPage struct {
	Items      []Comment `json:"items"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// AddCommentRequest comments on a published post, or replies to a top-level comment of it.
type AddCommentRequest struct {
	PostID   string `json:"post_id"`
	ParentID string `json:"parent_id,omitempty"`
	Body     string `json:"body"`
}

// Validate checks the ids and the body.
func (r AddCommentRequest) Validate() error {
	if err := ValidatePostID("post_id", r.PostID); err != nil {
		return err
	}
	if r.ParentID != "" {
		if err := ValidatePostID("parent_id", r.ParentID); err != nil {
			return err
		}
	}
	return ValidateCommentBody(r.Body)
}

// Rules states Validate's rules (see Rules). A parent must be a top-level comment of the same
// post (x-moa-checks).
func (AddCommentRequest) Rules() Rules {
	return Rules{Fields: fields("post_id", ruleUUID, "parent_id", optional(ruleUUID), "body", ruleCommentBody),
		Checks: []Check{{Field: "parent_id", Rule: "a top-level comment of the same post, or empty for a top-level comment"}}}
}

// EditCommentRequest changes the body of the caller's own comment.
type EditCommentRequest struct {
	ID   string `json:"id"`
	Body string `json:"body"`
}

// Validate checks the id and the body.
func (r EditCommentRequest) Validate() error {
	return catFirstErr(ValidatePostID("id", r.ID), ValidateCommentBody(r.Body))
}

// Rules states Validate's rules (see Rules).
func (EditCommentRequest) Rules() Rules {
	return Rules{Fields: fields("id", ruleUUID, "body", ruleCommentBody)}
}

// CommentRef names one comment.
type CommentRef struct {
	ID string `json:"id"`
}

// Validate checks the id.
func (r CommentRef) Validate() error { return ValidatePostID("id", r.ID) }

// Rules states Validate's rules (see Rules).
func (CommentRef) Rules() Rules { return Rules{Fields: fields("id", ruleUUID)} }

// ModerateCommentRequest is the post author's action on a comment of their post.
type ModerateCommentRequest struct {
	ID     string            `json:"id"`
	Action CommentModeration `json:"action"`
}

// Validate checks the id and the action.
func (r ModerateCommentRequest) Validate() error {
	if err := ValidatePostID("id", r.ID); err != nil {
		return err
	}
	if r.Action.Valid() {
		return nil
	}
	return ErrValidation.OnField("action", "action must be %q, %q or %q", ModerateHide, ModerateUnhide, ModerateDelete)
}

// Rules states Validate's rules (see Rules).
func (ModerateCommentRequest) Rules() Rules {
	return Rules{Fields: fields("id", ruleUUID, "action", Rule{Enum: CommentModeration("").EnumValues()})}
}

// ListCommentsRequest asks for one page of a post's comments.
type ListCommentsRequest struct {
	PostID string `json:"post_id"`
	Limit  int    `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// Validate checks the id, limit and cursor size.
func (r ListCommentsRequest) Validate() error {
	return catFirstErr(ValidatePostID("post_id", r.PostID), catValidateLimit(r.Limit), catValidateCursor(r.Cursor))
}

// Rules states Validate's rules (see Rules).
func (ListCommentsRequest) Rules() Rules {
	return Rules{Fields: fields("post_id", ruleUUID, "limit", ruleLimit, "cursor", ruleCursor), Checks: []Check{checkCursor}}
}

// Post endpoints. Writing posts and categories needs a writer's token; reading is open to
// anyone (a writer's token also shows the writer's own drafts); commenting needs any signed-in
// user; moderation is the post's author's.
var (
	PostCreatePost = Endpoint[CreatePostRequest, Post]{Service: PostService, Name: "create_post", Access: AccessWriter,
		Description: "a writer writes a post, as a draft or published"}
	PostUpdatePost = Endpoint[UpdatePostRequest, Post]{Service: PostService, Name: "update_post", Access: AccessWriter, Owner: true,
		Description: "the post's author changes it, publishes or unpublishes it"}
	PostDeletePost = Endpoint[PostRef, Empty]{Service: PostService, Name: "delete_post", Access: AccessWriter, Owner: true,
		Description: "the post's author deletes it, with its comments"}
	PostGetPost = Endpoint[GetPostRequest, Post]{Service: PostService, Name: "get_post", Access: AccessAnonymous | AccessSignedIn, Idempotent: true,
		Description: "one published post by id or slug (the author's token also finds a draft)"}
	PostListPosts = Endpoint[ListPostsRequest, PostPage]{Service: PostService, Name: "list_posts", Access: AccessAnonymous, Idempotent: true,
		Description: "published posts, newest first, by category or tag, in keyset pages"}
	PostSearchPosts = Endpoint[SearchPostsRequest, PostPage]{Service: PostService, Name: "search_posts", Access: AccessAnonymous, Idempotent: true,
		Description: "full-text, substring and trigram search of published posts (Korean and English)"}
	PostMyPosts = Endpoint[PageRequest, PostPage]{Service: PostService, Name: "my_posts", Access: AccessWriter, Idempotent: true,
		Description: "the calling writer's posts, drafts included, newest first"}
	PostCreateCategory = Endpoint[CreateCategoryRequest, Category]{Service: PostService, Name: "create_category", Access: AccessWriter,
		Description: "a writer adds a category"}
	PostListCategories = Endpoint[Empty, CategoryList]{Service: PostService, Name: "list_categories", Access: AccessAnonymous, Idempotent: true,
		Description: "every category"}
	PostAddComment = Endpoint[AddCommentRequest, Comment]{Service: PostService, Name: "add_comment", Access: AccessSignedIn,
		Description: "comments on a published post or replies to a top-level comment"}
	PostEditComment = Endpoint[EditCommentRequest, Comment]{Service: PostService, Name: "edit_comment", Access: AccessSignedIn, Owner: true,
		Description: "the comment's author changes its body"}
	PostDeleteComment = Endpoint[CommentRef, Empty]{Service: PostService, Name: "delete_comment", Access: AccessSignedIn, Owner: true,
		Description: "the comment's author deletes it"}
	PostModerateComment = Endpoint[ModerateCommentRequest, Comment]{Service: PostService, Name: "moderate_comment", Access: AccessWriter, Owner: true,
		Description: "the post's author hides, unhides or deletes a comment on it"}
	PostListComments = Endpoint[ListCommentsRequest, CommentPage]{Service: PostService, Name: "list_comments", Access: AccessAnonymous | AccessSignedIn, Idempotent: true,
		Description: "a published post's comments in thread order (the post author's token shows hidden bodies)"}
)

// PostPublishedData is the body of post.published: a post became visible (written published,
// or a draft published).
type PostPublishedData struct {
	Post PostSummary `json:"post"`
}

// PostUpdatedData is the body of post.updated: the post after the change and the JSON names of
// the fields that changed ("status" when it was unpublished).
type PostUpdatedData struct {
	Post    PostSummary `json:"post"`
	Changed []string    `json:"changed"`
}

// PostDeletedData is the body of post.deleted.
type PostDeletedData struct {
	PostID    string    `json:"post_id"`
	AuthorID  string    `json:"author_id"`
	DeletedAt time.Time `json:"deleted_at"`
}

// PostCommentedData is the body of post.commented: whom to tell about a new comment (the
// post's author, and for a reply the parent comment's author).
type PostCommentedData struct {
	PostID         string    `json:"post_id"`
	PostSlug       string    `json:"post_slug"`
	PostTitle      string    `json:"post_title"`
	PostAuthorID   string    `json:"post_author_id"`
	CommentID      string    `json:"comment_id"`
	AuthorID       string    `json:"author_id"`
	AuthorName     string    `json:"author_name"`
	ParentID       string    `json:"parent_id,omitempty"`
	ParentAuthorID string    `json:"parent_author_id,omitempty"`
	Excerpt        string    `json:"excerpt"`
	CommentedAt    time.Time `json:"commented_at"`
}

// Post events, keyed by post id, on StreamPost, emitted through the post service's outbox: each
// is published if and only if its change committed.
var (
	PostPublished = Event[PostPublishedData]{Stream: StreamPost, Domain: "post", Name: "published", Version: 1}
	PostUpdated   = Event[PostUpdatedData]{Stream: StreamPost, Domain: "post", Name: "updated", Version: 1}
	PostDeleted   = Event[PostDeletedData]{Stream: StreamPost, Domain: "post", Name: "deleted", Version: 1}
	PostCommented = Event[PostCommentedData]{Stream: StreamPost, Domain: "post", Name: "commented", Version: 1}
)

// ValidatePostID checks that id looks like a post or comment id (a UUID).
func ValidatePostID(field, id string) error {
	if err := ValidateProductID(field, id); err != nil {
		return ErrValidation.OnField(field, "%s is not a valid id", field)
	}
	return nil
}

// ValidateSlug checks a post or category slug: 1 to MaxSlugLen lower-case ASCII letters,
// digits and Hangul syllables in words joined by single hyphens ("hello-세계-2"). Nothing else
// passes — no '.', '*', '>', space, upper case or other script — so a slug is safe in a URL
// path and could never change the meaning of a NATS subject (the service keys its events by
// post id all the same).
func ValidateSlug(field, s string) error {
	if s == "" {
		return ErrValidation.OnField(field, "%s must not be empty", field)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxSlugLen {
		return ErrValidation.OnField(field, "%s must have 1 to %d characters", field, MaxSlugLen)
	}
	prevHyphen := true // no leading hyphen
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r >= 0xAC00 && r <= 0xD7A3:
			prevHyphen = false
		case r == '-' && !prevHyphen:
			prevHyphen = true
		default:
			return ErrValidation.OnField(field, "%s may only have lower-case letters, digits, Korean and single hyphens between them", field)
		}
	}
	if prevHyphen {
		return ErrValidation.OnField(field, "%s must not end with a hyphen", field)
	}
	return nil
}

// ValidatePostTitle checks a post title.
func ValidatePostTitle(s string) error {
	if strings.TrimSpace(s) == "" {
		return ErrValidation.OnField("title", "title must not be empty")
	}
	if utf8.RuneCountInString(s) > MaxPostTitleLen {
		return ErrValidation.OnField("title", "title is longer than %d characters", MaxPostTitleLen)
	}
	return catCheckText("title", s)
}

// ValidatePostBody checks a post's markdown (may be empty, e.g. for a draft).
func ValidatePostBody(s string) error {
	if len(s) > MaxPostBodyLen {
		return ErrValidation.OnField("body", "body is longer than %d bytes", MaxPostBodyLen)
	}
	return catCheckMultiline("body", s)
}

// ValidateCoverImageID checks a cover image id (empty for none): 1 to MaxCoverImageIDLen ASCII
// letters, digits, '-' and '_', the form of the media service's image ids.
func ValidateCoverImageID(s string) error {
	if len(s) > MaxCoverImageIDLen {
		return ErrValidation.OnField("cover_image_id", "cover_image_id is longer than %d bytes", MaxCoverImageIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ErrValidation.OnField("cover_image_id", "cover_image_id may only have ASCII letters, digits, '-' and '_'")
		}
	}
	return nil
}

func validateCategoryRef(s string) error {
	if s == "" {
		return nil
	}
	return ValidateSlug("category", s)
}

// ValidateCommentBody checks a comment's text.
func ValidateCommentBody(s string) error {
	if strings.TrimSpace(s) == "" {
		return ErrValidation.OnField("body", "body must not be empty")
	}
	if utf8.RuneCountInString(s) > MaxCommentLen {
		return ErrValidation.OnField("body", "body is longer than %d characters", MaxCommentLen)
	}
	return catCheckMultiline("body", s)
}

func init() {
	register(PostCreatePost, PostUpdatePost, PostDeletePost, PostGetPost, PostListPosts, PostSearchPosts, PostMyPosts,
		PostCreateCategory, PostListCategories, PostAddComment, PostEditComment, PostDeleteComment, PostModerateComment,
		PostListComments, PostPublished, PostUpdated, PostDeleted, PostCommented)
}
