package contracts_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/contracts/schemagen"
	"github.com/moa-run/moa/contracts/schemagen/requestgen"
)

// TestSchemasAndValidationAgree runs every request generated from the schemas (see
// requestgen) through the contract's decoding and Validate: requests valid by the schema must
// pass, each invalid one must be refused naming its field. The services' agreement tests send
// the same requests to running services.
func TestSchemasAndValidationAgree(t *testing.T) {
	all, err := requestgen.Cases()
	if err != nil {
		t.Fatal(err)
	}
	total, valid := 0, 0
	for _, d := range contracts.Endpoints() {
		ep := d.Info()
		cases := all[ep.Subject]
		if len(cases) == 0 {
			continue
		}
		t.Run(ep.Subject, func(t *testing.T) {
			for _, c := range cases {
				total++
				if c.Valid {
					valid++
				}
				if err := c.Check(decodeAndValidate(reflect.TypeOf(ep.Request), c.Body), false); err != nil {
					t.Error(err)
				}
			}
		})
	}
	t.Logf("%d generated requests, %d valid by the schema", total, valid)
	if t.Failed() {
		t.Log("a rule that Validate applies and the schema does not state belongs in the request type's Rules method " +
			"(see contracts/rules.go), written from the same constants; a rule JSON Schema cannot state goes in Rules.Checks")
	}
	if valid == 0 || total == valid {
		t.Fatal("the generator produced no valid or no invalid requests")
	}
}

// decodeAndValidate decodes body into a new value of t the way the bus does (no unknown
// fields; a JSON type error names its field) and runs its Validate.
func decodeAndValidate(t reflect.Type, body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	v := reflect.New(t)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return contracts.ErrValidation.OnField(te.Field, "%v", err)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return contracts.ErrUnknownField.OnField(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown")
		}
		return contracts.ErrBadRequest.Wrap(err)
	}
	return validate(v.Elem().Interface())
}

// TestNotificationKindSchemas checks each kind's schema against a notification as the notify
// service stores it, and that a notification of another kind or with data of another shape is
// refused.
func TestNotificationKindSchemas(t *testing.T) {
	_, compile := compiled(t)
	data := map[string]any{
		contracts.NotificationSubscriptionActivated: contracts.SubscriptionNoticeData{SubscriptionID: "s-1", ProductID: "p-1", Role: contracts.RoleSeller},
		contracts.NotificationSubscriptionCancelled: contracts.SubscriptionNoticeData{SubscriptionID: "s-1", ProductID: "p-1", Role: contracts.RoleConsumer, Reason: "by_consumer"},
		contracts.NotificationTermsChanged:          contracts.TermsNoticeData{ProductID: "p-1", Role: contracts.RoleConsumer, TermsVersion: 2},
		contracts.NotificationPostCommented:         contracts.CommentNoticeData{PostID: "post-1", PostSlug: "hello", CommentID: "c-2", AuthorID: "u-2", ParentID: "c-1"},
		contracts.NotificationPostPopular:           contracts.PopularNoticeData{PostID: "post-1", Threshold: 100},
		contracts.NotificationCommentReplied:        contracts.CommentNoticeData{PostID: "post-1", PostSlug: "hello", CommentID: "c-2", AuthorID: "u-2", ParentID: "c-1", OnYourPost: true},
	}
	kinds := contracts.NotificationKinds()
	if len(kinds) != len(data) {
		t.Fatalf("%d notification kinds declared, this test knows %d", len(kinds), len(data))
	}
	for _, nk := range kinds {
		s := compile(schemagen.NotificationFile(nk))
		b, err := json.Marshal(data[nk.Kind])
		if err != nil {
			t.Fatal(err)
		}
		n := contracts.Notification{Seq: 1, Kind: nk.Kind, Title: "t", Body: "b", CreatedAt: time.Now().UTC(), Data: b}
		if err := s.Validate(instance(t, n)); err != nil {
			t.Errorf("%s: a notification as notify stores it is refused: %v", nk.Kind, err)
		}
		other := n
		other.Kind = "chat.message"
		if s.Validate(instance(t, other)) == nil {
			t.Errorf("%s: a notification of another kind is accepted", nk.Kind)
		}
		wrong := n
		wrong.Data = json.RawMessage(`{"role":"seller"}`)
		if s.Validate(instance(t, wrong)) == nil {
			t.Errorf("%s: data without its ids is accepted", nk.Kind)
		}
	}
}

// TestPatternsMatchTheGoChecks compares each shared pattern with the Go check it states, for
// every character of the Basic Multilingual Plane (and some beyond) between two letters and
// alone: white space and control characters are where RE2, ECMA-262 and Go's unicode package
// could part ways.
func TestPatternsMatchTheGoChecks(t *testing.T) {
	checks := []struct {
		name, pattern string
		goCheck       func(string) bool
	}{
		{"PatternToken", contracts.PatternToken, contracts.IsToken},
		{"PatternTag", contracts.PatternTag, func(s string) bool { return contracts.ListProductsRequest{Tag: s}.Validate() == nil }},
		{"PatternLine", contracts.PatternLine, func(s string) bool { return contracts.ValidateTitle(s) == nil }},
		{"PatternMultilineText", contracts.PatternMultilineText, func(s string) bool { return contracts.ValidateTerms(s) == nil }},
		{"PatternMultiline", contracts.PatternMultiline, func(s string) bool { return contracts.ValidateDescription(s) == nil }},
		{"PatternChatText", contracts.PatternChatText, func(s string) bool { _, err := contracts.NormalizeChatText("text", s); return err == nil }},
		{"PatternSearchText", contracts.PatternSearchText, func(s string) bool { _, err := contracts.NormalizeSearchQuery("query", s); return err == nil }},
		{"PatternCurrency", contracts.PatternCurrency, func(s string) bool { return contracts.ValidateCurrency("currency", s) == nil }},
		{"PatternNoControl", contracts.PatternNoControl, func(s string) bool {
			return contracts.ViewProductRequest{ID: requestgen.ExampleUUID, ViewerID: s}.Validate() == nil
		}},
		{"PatternNotBlank", contracts.PatternNotBlank, func(s string) bool { return contracts.RefreshRequest{RefreshToken: s}.Validate() == nil }},
		{"PatternSlug", contracts.PatternSlug, func(s string) bool { return contracts.ValidateSlug("slug", s) == nil }},
		{"PatternCoverImageID", contracts.PatternCoverImageID, func(s string) bool { return contracts.ValidateCoverImageID(s) == nil }},
	}
	var runes []rune
	for r := rune(0); r < 0x10000; r++ {
		if r < 0xd800 || r > 0xdfff {
			runes = append(runes, r)
		}
	}
	runes = append(runes, 0x1f600, 0x20000, 0xe0001)
	for _, c := range checks {
		re := regexp.MustCompile(c.pattern)
		differ := 0
		for _, r := range runes {
			for _, s := range []string{"a" + string(r) + "b", string(r), "ABC"} {
				// Leading and trailing white space is trimmed by the services that normalise
				// (the schema describes the normal form), so only compare inside the text.
				if s == string(r) && strings.TrimSpace(s) != s {
					continue
				}
				if re.MatchString(s) != c.goCheck(s) {
					if differ++; differ <= 5 {
						t.Errorf("%s: %q: pattern says %v, Go says %v", c.name, s, re.MatchString(s), c.goCheck(s))
					}
				}
			}
		}
	}
	for _, id := range []string{"0190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a01", "0190A6F2-7C3E-7CC4-B6A4-6F0E5D2D9A01", "0190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a0",
		"0190a6f2x7c3e-7cc4-b6a4-6f0e5d2d9a01", "g190a6f2-7c3e-7cc4-b6a4-6f0e5d2d9a01", ""} {
		if regexp.MustCompile(contracts.PatternUUID).MatchString(id) != contracts.IsUUID(id) {
			t.Errorf("PatternUUID and IsUUID disagree on %q", id)
		}
	}
}
