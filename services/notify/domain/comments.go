package domain

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/moa-run/moa/contracts"
)

// CommentExcerptRunes bounds how much of a comment its alerts repeat.
const CommentExcerptRunes = contracts.MaxExcerptLen

// commentWords are the words of one comment alert, in Korean and in English: the mail says
// both (Korean first), the notification its English title and body.
type commentWords struct {
	koTitle, koBody, enTitle, enBody string
}

// Commented is what a new comment on a blog post says: to the post's author, "a comment on your
// post" (post.commented); for a reply, to the parent comment's author, "a reply to your comment"
// (comment.replied). Each gets a notification and a mail. Nobody is told about their own
// comment, and the post's author who also wrote the parent comment is told once, by the reply
// alert, which then says the comment is on their post.
func Commented(c Comment) (Notices, error) {
	for _, f := range [][2]string{{"post_id", c.PostID}, {"post_author_id", c.PostAuthorID}, {"comment_id", c.CommentID}, {"author_id", c.AuthorID}} {
		if !contracts.IsToken(f[1]) {
			return Notices{}, contracts.ErrValidation.OnField(f[0], "%s %q is not a valid id", f[0], f[1])
		}
	}
	reply := c.ParentID != "" || c.ParentAuthorID != ""
	if reply {
		for _, f := range [][2]string{{"parent_id", c.ParentID}, {"parent_author_id", c.ParentAuthorID}} {
			if !contracts.IsToken(f[1]) {
				return Notices{}, contracts.ErrValidation.OnField(f[0], "%s %q is not a valid id", f[0], f[1])
			}
		}
	}
	who := strings.TrimSpace(c.AuthorName)
	koWho, enWho := who+"님이", who // the subject with its particle
	if who == "" {
		koWho, enWho = "누군가가", "Someone"
	}
	title := strconv.Quote(c.PostTitle)
	if strings.TrimSpace(c.PostTitle) == "" {
		title = strconv.Quote(c.PostSlug)
	}
	excerpt := Excerpt(c.Excerpt, CommentExcerptRunes)

	var n Notices
	add := func(userID, kind string, onYourPost bool, w commentWords) {
		key := kind + ":" + c.CommentID
		data, _ := json.Marshal(contracts.CommentNoticeData{PostID: c.PostID, PostSlug: c.PostSlug, CommentID: c.CommentID,
			AuthorID: c.AuthorID, ParentID: c.ParentID, OnYourPost: onYourPost})
		n.Notifications = append(n.Notifications, Draft{UserID: userID, Kind: kind, Title: w.enTitle,
			Body: w.enBody + "\n\n" + excerpt, Data: data, DedupKey: key})
		n.Mails = append(n.Mails, Mail{UserID: userID, DedupKey: key, Subject: w.koTitle + " · " + w.enTitle,
			Body: "안녕하세요,\n\n" + w.koBody + "\n\n" + indent(excerpt) + "\n\n" +
				"Hello,\n\n" + w.enBody + "\n\n" + indent(excerpt) + "\n\n" +
				"글 / Post: " + c.PostSlug + " (" + c.PostID + ")\n댓글 / Comment: " + c.CommentID + "\n"})
	}

	if reply && c.ParentAuthorID != c.AuthorID {
		if c.ParentAuthorID == c.PostAuthorID {
			add(c.ParentAuthorID, contracts.NotificationCommentReplied, true, commentWords{
				koTitle: "내 글의 내 댓글에 새 답글",
				koBody:  fmt.Sprintf("%s 내 글 %s에 남긴 내 댓글에 답글을 달았습니다:", koWho, title),
				enTitle: "New reply to your comment on your post",
				enBody:  fmt.Sprintf("%s replied to your comment on your post %s:", enWho, title),
			})
		} else {
			add(c.ParentAuthorID, contracts.NotificationCommentReplied, false, commentWords{
				koTitle: "내 댓글에 새 답글",
				koBody:  fmt.Sprintf("%s 글 %s에 남긴 내 댓글에 답글을 달았습니다:", koWho, title),
				enTitle: "New reply to your comment",
				enBody:  fmt.Sprintf("%s replied to your comment on %s:", enWho, title),
			})
		}
	}
	if c.PostAuthorID != c.AuthorID && !(reply && c.ParentAuthorID == c.PostAuthorID) {
		w := commentWords{
			koTitle: "내 글에 새 댓글",
			koBody:  fmt.Sprintf("%s 내 글 %s에 댓글을 남겼습니다:", koWho, title),
			enTitle: "New comment on your post",
			enBody:  fmt.Sprintf("%s commented on your post %s:", enWho, title),
		}
		if reply {
			w = commentWords{
				koTitle: "내 글에 새 답글",
				koBody:  fmt.Sprintf("%s 내 글 %s의 댓글에 답글을 달았습니다:", koWho, title),
				enTitle: "New reply on your post",
				enBody:  fmt.Sprintf("%s replied to a comment on your post %s:", enWho, title),
			}
		}
		add(c.PostAuthorID, contracts.NotificationPostCommented, false, w)
	}
	return n, nil
}

// indent quotes a comment's text in a mail, so it stands apart from the words around it.
func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}
