package contracts

import (
	"net"
	"net/url"
	"strings"
	"time"
)

// LogService is the blog's visit log: it counts the views of published posts, deduplicated per
// visitor per window, per day and in total, keeps the referring hosts, and ranks the posts
// viewed most over a sliding window. It learns which posts exist from the post service's
// events (evt.post.>); its own data is its MongoDB database. It tells when a post's views cross
// a threshold (log.post_popular, once per post per threshold).
var LogService = Service{Name: "log", Version: "1.0.0", Major: 1,
	Description: "blog visit log: deduplicated post views per day, referrers, popular posts now"}

// Limits of the log's requests and answers.
const (
	MinVisitorIDLen   = 16 // an anonymous visitor id: enough randomness to be unguessable
	MaxVisitorIDLen   = 64
	MaxReferrerLen    = 2048 // bytes of the referring URL as sent
	MaxReferrerHost   = 253  // bytes of the host kept (DNS's limit)
	LogStatsDays      = 30   // post_stats' daily counts: today and the 29 days before
	LogTopReferrers   = 10   // post_stats' referrers, most views first
	LogPopularMax     = 50
	LogPopularDefault = 10
	LogWindowHoursMax = 24 // the popular window: the current hour and the 23 before it
	// LogPopularBucket is the granularity of the popular window: a view counts in the bucket
	// of its hour and leaves the window with it.
	LogPopularBucket = time.Hour
	// OtherReferrers stands for the hosts beyond those the log keeps per post; it is no host
	// name, so it is never mistaken for one.
	OtherReferrers = "(other)"
)

// RecordViewRequest records that someone viewed a published post: the edge's page-view
// event. The visitor is the signed-in caller, or for an anonymous caller VisitorID, an opaque
// id the client made up once and keeps (16 to 64 ASCII letters, digits, '-' and '_'; a
// signed-in caller's VisitorID is ignored). Referrer is the referring page's URL (http or
// https, without user info); only its host is kept.
type RecordViewRequest struct {
	PostID    string `json:"post_id"`
	VisitorID string `json:"visitor_id,omitempty"`
	Referrer  string `json:"referrer,omitempty"`
}

// Validate checks the post id, the visitor id's form and the referrer.
func (r RecordViewRequest) Validate() error {
	if err := ValidatePostID("post_id", r.PostID); err != nil {
		return err
	}
	if r.VisitorID != "" {
		if err := ValidateVisitorID(r.VisitorID); err != nil {
			return err
		}
	}
	_, err := ReferrerHost(r.Referrer)
	return err
}

// Rules states Validate's rules (see Rules).
func (RecordViewRequest) Rules() Rules {
	return Rules{
		Fields: fields("post_id", ruleUUID,
			"visitor_id", optional(Rule{MinLength: MinVisitorIDLen, MaxLength: MaxVisitorIDLen, MaxBytes: MaxVisitorIDLen,
				Pattern: `^[A-Za-z0-9_-]+$`, Example: "v-3f9a1c2e7b4d4e0f8a"}),
			"referrer", optional(Rule{MaxLength: MaxReferrerLen, MaxBytes: MaxReferrerLen, Pattern: PatternHTTPURL,
				Example: "https://news.example.com/item?id=1"})),
		Checks: []Check{
			{Field: "visitor_id", Rule: "required when the caller has no token (an anonymous view); ignored with one"},
			{Field: "referrer", Rule: "its host is an IP address or a DNS name in ASCII (punycode): labels of letters, digits and inner '-', at most 63 each, 253 in all"},
		},
	}
}

// RecordViewResponse says whether the view counted (false: the visitor viewed the post
// already in the current window) and the post's views after it.
type RecordViewResponse struct {
	Counted bool  `json:"counted"`
	Views   int64 `json:"views"`
}

// PostStatsRequest names the post whose counts are asked for.
type PostStatsRequest struct {
	PostID string `json:"post_id"`
}

// Validate checks the id.
func (r PostStatsRequest) Validate() error { return ValidatePostID("post_id", r.PostID) }

// Rules states Validate's rules (see Rules).
func (PostStatsRequest) Rules() Rules { return Rules{Fields: fields("post_id", ruleUUID)} }

// DayViews is one UTC day's views of a post. Day is "2006-01-02".
type DayViews struct {
	Day   string `json:"day"`
	Views int64  `json:"views"`
}

// ReferrerViews is how many counted views came from one referring host.
type ReferrerViews struct {
	Host  string `json:"host"`
	Views int64  `json:"views"`
}

// PostStats is a post's counts: its views ever, per UTC day for the last LogStatsDays days
// (oldest first, days without views included) and its top referring hosts (most views first).
// Views from more distinct hosts than the log keeps per post count under OtherReferrers.
type PostStats struct {
	PostID    string          `json:"post_id"`
	Views     int64           `json:"views"`
	Days      []DayViews      `json:"days"`
	Referrers []ReferrerViews `json:"referrers"`
}

// PopularNowRequest asks for the posts viewed most over the last WindowHours hourly buckets
// (1..LogWindowHoursMax, default the maximum; the current hour included). Limit defaults to
// LogPopularDefault.
type PopularNowRequest struct {
	Limit       int `json:"limit,omitempty"`
	WindowHours int `json:"window_hours,omitempty"`
}

// Validate checks the limit and the window.
func (r PopularNowRequest) Validate() error {
	if err := checkSearchLimit("limit", r.Limit, LogPopularMax); err != nil {
		return err
	}
	return checkSearchLimit("window_hours", r.WindowHours, LogWindowHoursMax)
}

// Rules states Validate's rules (see Rules).
func (PopularNowRequest) Rules() Rules {
	return Rules{Fields: fields("limit", limitRule(LogPopularMax), "window_hours", limitRule(LogWindowHoursMax))}
}

// PopularPost is a published post and its counted views in the window.
type PopularPost struct {
	PostID   string `json:"post_id"`
	AuthorID string `json:"author_id"`
	Title    string `json:"title"`
	Views    int64  `json:"views"`
}

// PopularNowResponse lists the posts viewed most, most views first (ties by post id). Deleted
// and unpublished posts are left out. Since is the start of the oldest bucket counted.
type PopularNowResponse struct {
	Items []PopularPost `json:"items"`
	Since time.Time     `json:"since"`
}

// Log endpoints: all of them public. Views are counted for anyone (anonymous visitors by the
// id their client keeps); counts and the popular list name posts, never visitors.
var (
	LogRecordView = Endpoint[RecordViewRequest, RecordViewResponse]{Service: LogService, Name: "record_view",
		Access:      AccessAnonymous | AccessSignedIn,
		Description: "record a view of a published post (once per visitor per window)"}
	LogPostStats = Endpoint[PostStatsRequest, PostStats]{Service: LogService, Name: "post_stats",
		Access: AccessAnonymous, Idempotent: true,
		Description: "a post's views in total and per day for 30 days, and its top referrers"}
	LogPopularNow = Endpoint[PopularNowRequest, PopularNowResponse]{Service: LogService, Name: "popular_now",
		Access: AccessAnonymous, Idempotent: true,
		Description: "the posts viewed most over a sliding window of hourly buckets"}
)

// PostPopularData is the body of log.post_popular: the post's views reached Threshold.
type PostPopularData struct {
	PostID    string `json:"post_id"`
	AuthorID  string `json:"author_id"`
	Title     string `json:"title"`
	Threshold int64  `json:"threshold"`
}

// LogPostPopular is emitted once per post per threshold (the log's settings), keyed by post
// id, on StreamLog, through the log's outbox in MongoDB: published at least once after the
// crossing is stored, with one event id, so the stream drops a re-publish.
var LogPostPopular = Event[PostPopularData]{Stream: StreamLog, Domain: "log", Name: "post_popular", Version: 1}

// ValidateVisitorID checks an anonymous visitor id: MinVisitorIDLen to MaxVisitorIDLen ASCII
// letters, digits, '-' and '_'.
func ValidateVisitorID(s string) error {
	if len(s) < MinVisitorIDLen || len(s) > MaxVisitorIDLen {
		return ErrValidation.OnField("visitor_id", "visitor_id must have %d to %d characters", MinVisitorIDLen, MaxVisitorIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ErrValidation.OnField("visitor_id", "visitor_id may only have ASCII letters, digits, '-' and '_'")
		}
	}
	return nil
}

// ReferrerHost returns the host of a referring URL, lower case, without port or trailing dot ("" for an empty referrer). Only absolute http and https URLs with a DNS name
// or IP address as host pass; an internationalised name must come in its ASCII (punycode)
// form, as browsers send it.
func ReferrerHost(ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	if len(ref) > MaxReferrerLen {
		return "", ErrValidation.OnField("referrer", "referrer is longer than %d bytes", MaxReferrerLen)
	}
	u, err := url.Parse(ref)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", ErrValidation.OnField("referrer", "referrer must be an absolute http or https URL")
	}
	if u.User != nil {
		// Browsers never send credentials in a Referer; a referrer with them is made up.
		return "", ErrValidation.OnField("referrer", "referrer must not have user info")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	if host == "" || len(host) > MaxReferrerHost {
		return "", ErrValidation.OnField("referrer", "referrer's host must have 1 to %d characters", MaxReferrerHost)
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", ErrValidation.OnField("referrer", "referrer's host is not a valid DNS name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", ErrValidation.OnField("referrer", "referrer's host may only have ASCII letters, digits, '-' and '.'")
			}
		}
	}
	return host, nil
}

func init() {
	register(LogRecordView, LogPostStats, LogPopularNow, LogPostPopular)
}
