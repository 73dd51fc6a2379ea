package domain

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/moa-run/moa/contracts"
)

// PopularTitleRunes bounds how much of a post's title a popular alert repeats.
const PopularTitleRunes = 200

// Popular is a blog post whose views crossed a threshold (the log service's
// log.post_popular), as far as the alert says it.
type Popular struct {
	PostID    string
	AuthorID  string
	Title     string
	Threshold int64
}

// Popularity is what a post crossing a threshold says to its author: "your post is popular"
// (post.popular), a notification and a mail. Its key is the post and the threshold, not the
// event: the log may publish one crossing twice under two ids (its outbox's retries past the
// stream's duplicate window), and the author is still told once per post and threshold.
func Popularity(p Popular) (Notices, error) {
	for _, f := range [][2]string{{"post_id", p.PostID}, {"author_id", p.AuthorID}} {
		if !contracts.IsToken(f[1]) {
			return Notices{}, contracts.ErrValidation.OnField(f[0], "%s %q is not a valid id", f[0], f[1])
		}
	}
	if p.Threshold <= 0 {
		return Notices{}, contracts.ErrValidation.OnField("threshold", "threshold %d is not a positive number of views", p.Threshold)
	}
	koTitle, koPost := "내 글이 인기 글이 되었습니다", "내 글"
	enTitle, enPost := "Your post is popular", "Your post"
	if t := strings.TrimSpace(p.Title); t != "" {
		q := strconv.Quote(Excerpt(t, PopularTitleRunes))
		koPost, enPost = "내 글 "+q, "Your post "+q
	}
	views := strconv.FormatInt(p.Threshold, 10)
	koBody := fmt.Sprintf("%s의 조회수가 %s회에 이르렀습니다.", koPost, views)
	unit := "views"
	if p.Threshold == 1 {
		unit = "view"
	}
	enBody := fmt.Sprintf("%s has reached %s %s.", enPost, views, unit)

	key := contracts.NotificationPostPopular + ":" + p.PostID + ":" + views
	data, _ := json.Marshal(contracts.PopularNoticeData{PostID: p.PostID, Threshold: p.Threshold})
	return Notices{
		Notifications: []Draft{{UserID: p.AuthorID, Kind: contracts.NotificationPostPopular, Title: enTitle, Body: enBody,
			Data: data, DedupKey: key}},
		Mails: []Mail{{UserID: p.AuthorID, DedupKey: key, Subject: koTitle + " · " + enTitle,
			Body: "안녕하세요,\n\n" + koBody + "\n\n" + "Hello,\n\n" + enBody + "\n\n" +
				"글 / Post: " + p.PostID + "\n"}},
	}, nil
}
