package contracts

import "time"

// The notify service's endpoints besides NotifySince (contracts/notify.go): paging through the
// caller's notifications, their read state, and the dev mailbox of `moa dev`.

// Limits of the notify endpoints.
const (
	NotifyListDefault     = 20
	NotifyListMax         = 100
	NotifyMarkReadMaxSeqs = 500
	DevMailboxDefault     = 50
	DevMailboxMax         = 200
)

// Notification kinds the notify service stores; NotificationKinds gives each one's Data type.
const (
	NotificationSubscriptionActivated = "subscription.activated"
	NotificationSubscriptionCancelled = "subscription.cancelled"
	NotificationTermsChanged          = "product.terms_changed"
	NotificationPostCommented         = "post.commented"
	NotificationCommentReplied        = "comment.replied"
	NotificationPostPopular           = "post.popular"
)

// SubscriptionNoticeData is the Data of subscription.activated and subscription.cancelled
// notifications: the subscription, its product, and whether the user is its consumer or the
// product's seller. Reason is set for cancelled ones (seat_unavailable, payment_failed,
// by_consumer, timed_out).
type SubscriptionNoticeData struct {
	SubscriptionID string `json:"subscription_id"`
	ProductID      string `json:"product_id"`
	Role           Role   `json:"role"`
	Reason         string `json:"reason,omitempty"`
}

// TermsNoticeData is the Data of product.terms_changed notifications, sent to the product's
// active subscribers (Role consumer): the product and its new terms version.
type TermsNoticeData struct {
	ProductID    string `json:"product_id"`
	Role         Role   `json:"role"`
	TermsVersion int    `json:"terms_version"`
}

// CommentNoticeData is the Data of the blog's post.commented and comment.replied
// notifications: the post (id and slug, to link to it), the new comment and its author, and for
// a reply the parent comment. OnYourPost is set on comment.replied when the user also wrote the
// post: they get that one notification, not a post.commented besides.
type CommentNoticeData struct {
	PostID     string `json:"post_id"`
	PostSlug   string `json:"post_slug"`
	CommentID  string `json:"comment_id"`
	AuthorID   string `json:"author_id"`
	ParentID   string `json:"parent_id,omitempty"`
	OnYourPost bool   `json:"on_your_post,omitempty"`
}

// PopularNoticeData is the Data of the blog's post.popular notification: the author's post
// whose views reached Threshold (the log service's log.post_popular). A post gets one per
// threshold it crosses.
type PopularNoticeData struct {
	PostID    string `json:"post_id"`
	Threshold int64  `json:"threshold"`
}

// NotificationKindInfo declares one notification kind: its Kind, what it tells, and a zero
// value of its Data type, from which contracts/schemas/notification.<kind>.json is generated.
type NotificationKindInfo struct {
	Kind        string
	Description string
	Data        any
}

// NotificationKinds lists every kind the notify service stores, sorted by kind.
func NotificationKinds() []NotificationKindInfo {
	return []NotificationKindInfo{
		{Kind: NotificationCommentReplied, Description: "someone replied to the user's comment on a blog post", Data: CommentNoticeData{}},
		{Kind: NotificationPostCommented, Description: "someone commented on the user's blog post, or replied to another reader's comment on it", Data: CommentNoticeData{}},
		{Kind: NotificationPostPopular, Description: "the user's blog post reached a number of views (once per post and number)", Data: PopularNoticeData{}},
		{Kind: NotificationTermsChanged, Description: "the seller changed the terms of a product the user subscribes to", Data: TermsNoticeData{}},
		{Kind: NotificationSubscriptionActivated, Description: "a subscription became active (to its consumer and to the product's seller)", Data: SubscriptionNoticeData{}},
		{Kind: NotificationSubscriptionCancelled, Description: "a subscription was cancelled or could not start (to its consumer and to the product's seller)", Data: SubscriptionNoticeData{}},
	}
}

// NotificationRef is every field of the notify service's own notification kinds' Data, for
// clients that read any kind into one type; each kind's own type (NotificationKinds) says which
// fields it has.
type NotificationRef struct {
	SubscriptionID string `json:"subscription_id,omitempty"`
	ProductID      string `json:"product_id"`
	Role           Role   `json:"role"`
	Reason         string `json:"reason,omitempty"`
	TermsVersion   int    `json:"terms_version,omitempty"`
	PostID         string `json:"post_id,omitempty"`
	PostSlug       string `json:"post_slug,omitempty"`
	CommentID      string `json:"comment_id,omitempty"`
	AuthorID       string `json:"author_id,omitempty"`
	ParentID       string `json:"parent_id,omitempty"`
	OnYourPost     bool   `json:"on_your_post,omitempty"`
	Threshold      int64  `json:"threshold,omitempty"`
}

// More notify endpoints. The user is always the one of the caller's access token, except for
// the dev mailbox, which only exists in development.
var (
	NotifyList = Endpoint[NotifyListReq, NotifyListResp]{Service: NotifyService, Name: "list", Access: AccessSignedIn, Idempotent: true,
		Description: "a page of the caller's notifications, newest first, with their read state"}
	NotifyMarkRead = Endpoint[NotifyMarkReadReq, NotifyUnread]{Service: NotifyService, Name: "mark_read", Access: AccessSignedIn, Idempotent: true,
		Description: "mark the caller's notifications read, by sequence or up to a sequence"}
	NotifyUnreadCount = Endpoint[Empty, NotifyUnread]{Service: NotifyService, Name: "unread_count", Access: AccessSignedIn, Idempotent: true,
		Description: "how many of the caller's stored notifications are unread"}
	NotifyDevMailbox = Endpoint[DevMailboxReq, DevMailbox]{Service: NotifyService, Name: "dev_mailbox", Access: AccessSignedIn, Owner: true, Idempotent: true,
		Description: "moa dev only (no SMTP server configured): the mails the service sent to its dev mailbox"}
)

func init() { register(NotifyList, NotifyMarkRead, NotifyUnreadCount, NotifyDevMailbox) }

// NotifyListReq asks for a page of the caller's notifications, newest first. Before is a
// sequence: the page holds notifications older than it (0: from the newest). UnreadOnly skips
// the read ones. Limit defaults to NotifyListDefault.
type NotifyListReq struct {
	Before     uint64 `json:"before,omitempty"`
	Limit      int    `json:"limit,omitempty"`
	UnreadOnly bool   `json:"unread_only,omitempty"`
}

// Validate checks the limit.
func (r NotifyListReq) Validate() error {
	if r.Limit < 0 || r.Limit > NotifyListMax {
		return ErrValidation.OnField("limit", "limit must be between 1 and %d (0: %d)", NotifyListMax, NotifyListDefault)
	}
	return nil
}

// Rules states Validate's rules (see Rules).
func (NotifyListReq) Rules() Rules { return Rules{Fields: fields("limit", limitRule(NotifyListMax))} }

// NotificationItem is a notification with the caller's read state.
type NotificationItem struct {
	Notification
	Read bool `json:"read"`
}

// NotifyListResp is one page. NextBefore is the Before of the next (older) page, 0 when this
// is the last one. LastSeq is the user's latest sequence, as in NotifySinceResp.
type NotifyListResp struct {
	Items      []NotificationItem `json:"items"`
	NextBefore uint64             `json:"next_before"`
	LastSeq    uint64             `json:"last_seq"`
}

// NotifyMarkReadReq marks read every notification with a sequence up to UpTo (when not 0) and
// the ones listed in Seqs. Marking a read notification again changes nothing.
type NotifyMarkReadReq struct {
	UpTo uint64   `json:"up_to,omitempty"`
	Seqs []uint64 `json:"seqs,omitempty"`
}

// Validate requires something to mark.
func (r NotifyMarkReadReq) Validate() error {
	if r.UpTo == 0 && len(r.Seqs) == 0 {
		return ErrValidation.OnField("up_to", "give up_to or seqs")
	}
	if len(r.Seqs) > NotifyMarkReadMaxSeqs {
		return ErrValidation.OnField("seqs", "at most %d seqs at once", NotifyMarkReadMaxSeqs)
	}
	for _, s := range r.Seqs {
		if s == 0 {
			return ErrValidation.OnField("seqs", "sequences start at 1")
		}
	}
	return nil
}

// Rules states Validate's rules (see Rules): up_to (from 1) or seqs (at least one), or both.
func (NotifyMarkReadReq) Rules() Rules {
	return Rules{
		Fields: fields("up_to", Rule{Min: ptr64(0)},
			"seqs", Rule{MaxItems: NotifyMarkReadMaxSeqs, Items: &Rule{Min: ptr64(1)}}),
		AnyOfRequired: []string{"up_to", "seqs"},
	}
}

// NotifyUnread is the caller's unread count among stored notifications and latest sequence.
type NotifyUnread struct {
	Unread  int64  `json:"unread"`
	LastSeq uint64 `json:"last_seq"`
}

// DevMailboxReq lists the dev mailbox, newest first; To filters by recipient address.
type DevMailboxReq struct {
	To    string `json:"to,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// Validate checks the limit and the address length.
func (r DevMailboxReq) Validate() error {
	if r.Limit < 0 || r.Limit > DevMailboxMax {
		return ErrValidation.OnField("limit", "limit must be between 1 and %d (0: %d)", DevMailboxMax, DevMailboxDefault)
	}
	if len(r.To) > maxMailAddrLen {
		return ErrValidation.OnField("to", "to is longer than an address can be")
	}
	return nil
}

// maxMailAddrLen bounds DevMailboxReq.To, in bytes.
const maxMailAddrLen = 320

// Rules states Validate's rules (see Rules).
func (DevMailboxReq) Rules() Rules {
	return Rules{Fields: fields("limit", limitRule(DevMailboxMax), "to", Rule{MaxLength: maxMailAddrLen, MaxBytes: maxMailAddrLen})}
}

// DevMail is one mail in the dev mailbox. Status is "pending" while the recipient's address is
// not known yet (the account's signup event has not arrived), "sent" once delivered.
type DevMail struct {
	ID        int64      `json:"id"`
	UserID    string     `json:"user_id"`
	To        string     `json:"to"`
	Subject   string     `json:"subject"`
	Body      string     `json:"body"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// DevMailbox is a page of the dev mailbox.
type DevMailbox struct {
	Items []DevMail `json:"items"`
}
