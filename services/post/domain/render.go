package domain

import (
	"bytes"
	"html"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// Rendering is two layers on purpose. goldmark, without its unsafe option, drops raw HTML from
// the markdown and refuses javascript:, vbscript:, file: and data: link targets; bluemonday's
// user-generated-content policy then keeps only an allowlist of elements, attributes and URL
// schemes (http, https, mailto and relative), whatever goldmark or its extensions emit. A
// flaw in either is caught by the other.
var (
	markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))
	sanitize = bluemonday.UGCPolicy()
	stripAll = bluemonday.StrictPolicy()
)

// Rendered is a post body in the forms the service keeps: sanitised HTML for readers, and the
// plain text for search and excerpts.
type Rendered struct {
	HTML string
	Text string
}

// Render turns markdown into sanitised HTML and its plain text. It never fails on content:
// markdown has no syntax errors, and whatever HTML or URL it holds is dropped or escaped.
func Render(md string) Rendered {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(md), &buf); err != nil {
		// goldmark only fails when its writer does, and a bytes.Buffer does not: show the
		// text escaped rather than nothing.
		buf.Reset()
		buf.WriteString("<p>" + html.EscapeString(md) + "</p>")
	}
	safe := sanitize.SanitizeBytes(buf.Bytes())
	// Block ends become spaces, so that words of adjacent paragraphs do not run together.
	spaced := strings.NewReplacer("</p>", "</p> ", "</li>", "</li> ", "</h1>", "</h1> ", "</h2>", "</h2> ",
		"</h3>", "</h3> ", "<br>", " ", "<br/>", " ", "</td>", "</td> ", "</pre>", "</pre> ").Replace(string(safe))
	text := html.UnescapeString(stripAll.Sanitize(spaced))
	return Rendered{HTML: string(safe), Text: strings.Join(strings.Fields(text), " ")}
}

// Excerpt is the first MaxExcerptLen characters of text, cut at a word where it can be.
func Excerpt(text string, max int) string {
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	r := []rune(text)[:max]
	s := string(r)
	if i := strings.LastIndexByte(s, ' '); i > len(s)/2 {
		s = s[:i]
	}
	return s + "…"
}
