package e2etest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// blogSignUp signs up a new account of role on the page the tab shows (the blog's, at /blog,
// has the same sign-in card as the marketplace's).
func blogSignUp(b *browser, role, email, name string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		b.until(`document.querySelector("#status").textContent === "connected" && !document.getElementById("auth").hidden`),
		chromedp.SetValue(chromedp.ID("email"), email),
		chromedp.SetValue(chromedp.ID("password"), "correct horse battery"),
		chromedp.SetValue(chromedp.ID("display-name"), name),
		chromedp.SetValue(chromedp.ID("role"), role),
		b.clickWhenPresent(`document.getElementById("signup")`),
		b.until(`document.querySelector("#whoami").dataset.role === ` + jsString(role)),
	}
}

// postRow is a JavaScript expression for the blog list's row of the post with slug (or undefined).
func postRow(slug string) string {
	return `[...document.querySelectorAll("#blog-posts li.blog-post")].find((li) => li.dataset.slug === ` + jsString(slug) + `)`
}

// popularRow is a JavaScript expression for the "popular now" row of the post titled title (or undefined).
func popularRow(title string) string {
	return `[...document.querySelectorAll("#blog-popular li")].find((li) => li.querySelector(".open-post").textContent === ` + jsString(title) + `)`
}

// commentWith is a JavaScript expression for the comment row whose body is text (or undefined).
func commentWith(text string) string {
	return `[...document.querySelectorAll("#blog-comments li.comment")].find((li) => li.querySelector(".body").textContent === ` + jsString(text) + `)`
}

// TestBlogWriterPublishesAndReaderComments walks the blog at /blog with the real auth and post
// services: a writer signs up (the writer role), writes a post in markdown with a heading and
// a script, previews it (the service's rendering of the saved draft) and publishes it; neither
// the preview nor the post runs the script or keeps it. A reader in another browser reads the
// post anonymously (no comment form, a sign-in hint), signs up and comments; the comment's
// markup stays text. The writer sees the comment on the post and hides it, and the reader then
// sees it hidden. The reader's read is counted in the visit log (the post shows its views) and
// the post is then popular now; the writer gets the comment alert live, without reloading, on
// the blog page's alert line and in the notifications, and the mail in the dev mailbox.
func TestBlogWriterPublishesAndReaderComments(t *testing.T) {
	browser := chromium(t)
	url := bootMarket(t, "auth", "post", "log", "notify")
	b := newBrowser(t, browser)
	writer, reader := b.tab(), b.tab()
	suffix := fmt.Sprint(time.Now().UnixNano())
	title := "Hello blog " + suffix
	slug := "hello-blog-" + suffix
	heading := "Heading " + suffix
	category := "travel-" + suffix
	body := "# " + heading + "\n\nSome *markdown* text.\n\n<script>window.blogXSS = true</script>\n\n" +
		`<img src="x" onerror="window.blogXSS = true">` + "\n\n[link](javascript:window.blogXSS=true)\n"
	// safe: the rendered body keeps the heading and has no script, handler or javascript: link,
	// and nothing set the flag.
	safe := func(box string) chromedp.Action[chromedp.Void] {
		return b.until(`((box) => box.querySelector("h1") != null && box.querySelector("h1").textContent.includes(` + jsString(heading) + `) &&
			box.querySelector("script, [onerror], a[href^='javascript']") == null && !("blogXSS" in window))(document.getElementById(` + jsString(box) + `))`)
	}

	b.run("writer signs up on the blog", writer, append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url + "/blog"),
		chromedp.WaitVisible(chromedp.ID("blog")),
		// The blog's page shows the blog, not the marketplace's cards.
		b.until(`document.body.dataset.page === "blog" && document.getElementById("browse").checkVisibility() === false`),
	}, blogSignUp(b, "writer", "writer-"+suffix+"@example.test", "Wren Writer")...)...)
	b.run("writer writes, previews and publishes", writer,
		b.clickWhenPresent(`((e) => e.hidden ? null : e)(document.getElementById("blog-new"))`),
		chromedp.WaitVisible(chromedp.ID("blog-editor")),
		chromedp.SetValue(chromedp.ID("bp-title"), title),
		chromedp.SetValue(chromedp.ID("bp-body"), body),
		chromedp.SetValue(chromedp.ID("bp-tags"), "hello"),
		// A new category, added from the editor and chosen for the post.
		chromedp.SetValue(chromedp.ID("bp-newcat"), "Travel "+suffix),
		b.clickWhenPresent(`document.getElementById("bp-addcat")`),
		b.until(`document.getElementById("bp-category").value === `+jsString(category)),
		b.clickWhenPresent(`document.getElementById("bp-preview")`),
		b.until(`!document.getElementById("bp-preview-box").hidden`),
		safe("bp-preview-out"),
		// The slug was made from the title.
		b.until(`document.getElementById("bp-slug").value === `+jsString(slug)),
		b.clickWhenPresent(`document.getElementById("bp-publish")`),
		b.until(`!document.getElementById("blog-article").hidden && document.getElementById("blog-title").textContent === `+jsString(title)+
			` && document.getElementById("blog-article").dataset.status === "published"`),
		safe("blog-body"),
		b.until(`location.hash === `+jsString("#blog/"+slug)),
	)

	// Ten more posts, written through the SDK's Blog with the writer's session: the list has
	// two pages, and the first post is on the second.
	n, err := chromedp.Run(writer, chromedp.Evaluate[int](`import("/sdk/moa.js").then(async ({ BrowserSession, MoaClient, Blog }) => {
		const s = new BrowserSession();
		await s.refresh();
		const c = new MoaClient({ token: () => s.accessToken, reconnect: false });
		const blog = new Blog(c);
		let n = 0;
		for (let i = 0; i < 10; i++) { await blog.createPost({ slug: "filler-" + i, title: "Filler " + i, body: "Text " + i, publish: true }); n++; }
		c.close();
		return n;
	})`, chromedp.EvalAwaitPromise))
	if err != nil || n != 10 {
		t.Fatalf("writing ten posts through the SDK: %d, %v", n, err)
	}

	// The reader is on a phone: the blog's screens fit it (phone_test.go's check).
	check := func(screen string, controls ...string) {
		t.Helper()
		bad, err := chromedp.Run(reader, chromedp.Evaluate[[]string](phoneProblemsJS+"("+jsonOf(controls)+")"))
		if err != nil {
			t.Fatalf("reader, %s: %v", screen, err)
		}
		if len(bad) > 0 {
			t.Errorf("reader, blog %s at phone width:\n  %s", screen, strings.Join(bad, "\n  "))
		}
	}
	comment := "Great post <b>" + suffix + "</b>"
	b.run("reader opens the blog", reader, phone(),
		chromedp.Navigate(url+"/blog"),
		b.until(`document.querySelector("#status").textContent === "connected"`),
		// Newest first, ten to a page: the first post is on the second page.
		b.until(`document.querySelectorAll("#blog-posts li.blog-post").length === 10 && `+postRow("filler-9")+` != null && `+postRow(slug)+` == null`),
		b.clickWhenPresent(`((e) => e.hidden ? null : e)(document.getElementById("blog-more"))`),
		b.until(`document.querySelectorAll("#blog-posts li.blog-post").length === 11 && `+postRow(slug)+` != null && document.getElementById("blog-more").hidden`))
	check("list", "#blog-q", "#blog-search", "#blog-category", "#blog-tag", "#blog-all", "#market-link", "#blog-posts li.blog-post .open-post")
	b.run("reader finds it by category and by search", reader,
		b.eval(`((s) => { s.value = `+jsString(category)+`; s.dispatchEvent(new Event("change")); })(document.getElementById("blog-category"))`),
		b.until(`document.getElementById("blog-posts").dataset.category === `+jsString(category)+` && `+postRow(slug)+` != null`),
		chromedp.SetValue(chromedp.ID("blog-q"), "hello blog"),
		b.clickWhenPresent(`document.getElementById("blog-search")`),
		b.until(`document.getElementById("blog-posts").dataset.kind === "search" && `+postRow(slug)+` != null`),
	)
	b.run("reader reads it anonymously", reader,
		b.clickWhenPresent(postRow(slug)+`?.querySelector(".open-post")`),
		b.until(`!document.getElementById("blog-article").hidden && document.getElementById("blog-title").textContent === `+jsString(title)),
		safe("blog-body"),
		b.until(`!document.getElementById("blog-signin-to-comment").hidden && document.getElementById("blog-comment-form").hidden`),
		// Not the author: no edit or delete.
		b.until(`document.getElementById("blog-edit").hidden && document.getElementById("blog-delete").hidden`),
		// The anonymous read is counted: the post shows its views.
		b.until(`!document.getElementById("blog-views").hidden && Number(document.getElementById("blog-views").dataset.views) >= 1 &&
			/^\d+ views?$/.test(document.getElementById("blog-views").textContent)`),
	)
	b.run("reader signs up and comments", reader, append(blogSignUp(b, "consumer", "reader-"+suffix+"@example.test", "Rae Reader"),
		b.until(`!document.getElementById("blog-comment-form").hidden && document.getElementById("blog-title").textContent === `+jsString(title)),
		chromedp.SetValue(chromedp.ID("blog-comment"), comment),
		b.clickWhenPresent(`document.getElementById("blog-comment-send")`),
		b.until(commentWith(comment)+` != null`),
		// The comment is text: its markup shows as typed and makes no element.
		b.until(`document.querySelector("#blog-comments b") == null && `+commentWith(comment)+`.querySelector(".author").textContent === "Rae Reader"`),
		// Its author may edit and delete it.
		b.until(commentWith(comment)+`.querySelector(".edit-comment") != null && `+commentWith(comment)+`.querySelector(".delete-comment") != null`),
	)...)
	check("post", "#blog-back", "#blog-comments-refresh", "#blog-comment", "#blog-comment-send", "#blog-comments li.comment .edit-comment",
		"#blog-comments li.comment .delete-comment", "#blog-tags .chip")
	b.run("writer gets the comment alert live, and the mail", writer,
		// No refresh: the alert is pushed, and the open post's comments are read again with it.
		b.until(`!document.getElementById("blog-alert").hidden && document.getElementById("blog-alert").dataset.kind === "post.commented" &&
			document.getElementById("blog-alert-text").textContent === `+jsString("New comment on your post “"+title+"”")),
		b.until(commentWith(comment)+` != null`),
		// The notifications panel shows on the blog page too, with the same push.
		b.until(`document.getElementById("notifications-card").checkVisibility() && [...document.querySelectorAll("#notifications .notification")].some(n =>
			n.textContent.includes("New comment on your post") && n.textContent.includes("Rae Reader") && n.textContent.includes(`+jsString(suffix)+`))`),
		chromedp.Poll[chromedp.Void](`(document.querySelector("#refresh-mail").click(), document.getElementById("mailbox").checkVisibility() &&
			[...document.querySelectorAll("#mails li")].some(m => m.textContent.includes("New comment on your post") && m.textContent.includes(`+jsString(comment)+`)))`,
			chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)),
	)
	b.screenshots("blog", map[string]context.Context{"writer": writer, "reader": reader})
	b.run("reader sees the post popular now and opens it from there", reader,
		b.clickWhenPresent(`document.getElementById("blog-back")`),
		chromedp.Poll[chromedp.Void](`(document.getElementById("blog-all").click(), `+popularRow(title)+` != null && Number(`+popularRow(title)+`.dataset.views) >= 1)`,
			chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
	)
	check("list with popular now", "#blog-popular li .open-post")
	b.run("reader opens the post from popular now", reader,
		b.clickWhenPresent(popularRow(title)+`?.querySelector(".open-post")`),
		b.until(`!document.getElementById("blog-article").hidden && document.getElementById("blog-title").textContent === `+jsString(title)+
			` && `+commentWith(comment)+` != null`),
	)

	reply := "Thanks, " + suffix
	b.run("writer sees the comment, replies and hides it", writer,
		chromedp.Poll[chromedp.Void](`(document.getElementById("blog-comments-refresh").click(), `+commentWith(comment)+` != null)`,
			chromedp.WithPollingInterval(300*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
		b.clickWhenPresent(commentWith(comment)+`?.querySelector("button.reply")`),
		b.until(`!document.getElementById("blog-comment-mode").hidden && document.getElementById("blog-comment-mode-text").textContent.includes("Rae Reader")`),
		chromedp.SetValue(chromedp.ID("blog-comment"), reply),
		b.clickWhenPresent(`document.getElementById("blog-comment-send")`),
		b.until(commentWith(reply)+`?.classList.contains("reply") === true`),
		b.clickWhenPresent(commentWith(comment)+`?.querySelector("button.hide")`),
		// The post's author still reads a hidden comment, marked hidden.
		b.until(commentWith(comment)+`?.querySelector("button.unhide") != null`),
	)
	b.run("reader sees it hidden, with the reply", reader,
		chromedp.Poll[chromedp.Void](`(document.getElementById("blog-comments-refresh").click(), `+commentWith(comment)+` == null &&
			document.querySelector("#blog-comments li.comment.hidden-comment") != null && `+commentWith(reply)+` != null)`,
			chromedp.WithPollingInterval(300*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
		// In Korean, the blog's text and what it drew (the hidden comment's placeholder, the views) change.
		b.eval(`((s) => { s.value = "ko"; s.dispatchEvent(new Event("change")); })(document.getElementById("lang"))`),
		b.until(`document.getElementById("blog-h").textContent === "블로그" && document.getElementById("blog-comment-send").textContent === "댓글 달기" &&
			document.querySelector("#blog-comments li.comment.hidden-comment .body").textContent === "(글쓴이가 숨긴 댓글)" &&
			/^조회 \d+회$/.test(document.getElementById("blog-views").textContent)`),
	)
	b.run("writer edits the post, then deletes it", writer,
		b.clickWhenPresent(`((e) => e.hidden ? null : e)(document.getElementById("blog-edit"))`),
		b.until(`!document.getElementById("blog-editor").hidden && document.getElementById("bp-title").value === `+jsString(title)),
		chromedp.SetValue(chromedp.ID("bp-title"), title+" (edited)"),
		b.clickWhenPresent(`document.getElementById("bp-publish")`),
		b.until(`!document.getElementById("blog-article").hidden && document.getElementById("blog-title").textContent === `+jsString(title+" (edited)")),
		// Delete asks once more on the same button.
		b.clickWhenPresent(`document.getElementById("blog-delete")`),
		b.until(`document.getElementById("blog-delete").dataset.armed === "1"`),
		b.clickWhenPresent(`document.getElementById("blog-delete")`),
		b.until(`!document.getElementById("blog-list-view").hidden && document.getElementById("blog-posts").dataset.kind === "list" && `+postRow(slug)+` == null`),
	)
	b.run("the reader's comment on the deleted post is refused", reader,
		chromedp.SetValue(chromedp.ID("blog-comment"), "Still there?"),
		b.clickWhenPresent(`document.getElementById("blog-comment-send")`),
		b.until(`document.getElementById("blog-comment-result").textContent.startsWith("not_found")`),
	)
}
