package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/moa-run/moa/contracts"
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

// Limits of rendering. Markdown is small but its HTML need not be: a GFM table's cells are
// padded to its header's width, so a thousand-column header over a few thousand one-byte rows
// expands 8 KB of markdown into tens of megabytes of HTML and as many seconds of work. Tables
// are bounded by a pre-scan before goldmark parses anything, and the HTML by a writer that
// refuses bytes past MaxHTMLLen. MaxWireLen keeps a post's reply under the NATS payload limit
// (1 MiB) with room for its other fields: it bounds the body and HTML as JSON encodes them,
// where every <, > and & becomes six bytes.
const (
	MaxTableColumns = 64
	MaxTableCells   = 20_000
	MaxHTMLLen      = 512 << 10
	MaxWireLen      = 700 << 10
)

// Rendered is a post body in the forms the service keeps: sanitised HTML for readers, and the
// plain text for search and excerpts.
type Rendered struct {
	HTML string
	Text string
}

// errTooLarge stops goldmark's writer once the HTML passes MaxHTMLLen.
var errTooLarge = errors.New("rendered HTML too large")

// cappedWriter keeps at most max bytes and fails past them; the bufio.Writer goldmark wraps
// it in then drops everything after the first failure, so the rest of the walk writes nothing.
type cappedWriter struct {
	buf bytes.Buffer
	max int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, errTooLarge
	}
	return w.buf.Write(p)
}

func tooLarge(format string, args ...any) error {
	return contracts.ErrValidation.OnField("body", "body renders too large: "+format, args...)
}

// Render turns markdown into sanitised HTML and its plain text. Markdown has no syntax errors
// and whatever HTML or URL it holds is dropped or escaped, so the only failure is size: a body
// whose tables, HTML or reply would be too large is a validation error of the body.
func Render(md string) (Rendered, error) {
	if err := checkTables(md); err != nil {
		return Rendered{}, err
	}
	w := &cappedWriter{max: MaxHTMLLen}
	if err := markdown.Convert([]byte(md), w); err != nil {
		// goldmark only fails when its writer does, and this one only past the cap.
		return Rendered{}, tooLarge("its HTML is longer than %d bytes", MaxHTMLLen)
	}
	safe := sanitize.SanitizeBytes(w.buf.Bytes())
	if n := jsonLen(md) + jsonLen(string(safe)); n > MaxWireLen {
		return Rendered{}, tooLarge("its markdown and HTML take %d bytes as JSON, more than %d", n, MaxWireLen)
	}
	// Block ends become spaces, so that words of adjacent paragraphs do not run together.
	spaced := strings.NewReplacer("</p>", "</p> ", "</li>", "</li> ", "</h1>", "</h1> ", "</h2>", "</h2> ",
		"</h3>", "</h3> ", "<br>", " ", "<br/>", " ", "</td>", "</td> ", "</pre>", "</pre> ").Replace(string(safe))
	text := html.UnescapeString(stripAll.Sanitize(spaced))
	return Rendered{HTML: string(safe), Text: strings.Join(strings.Fields(text), " ")}, nil
}

// jsonLen is the length of s as encoding/json writes it in a reply (with its HTML escaping).
func jsonLen(s string) int {
	b, _ := json.Marshal(s) // a string always encodes
	return len(b)
}

// checkTables bounds GFM tables before parsing. A table exists only under a delimiter row
// (cells of dashes with optional colons between pipes), and its width is that row's cell
// count; every line up to the next blank one may be a row of it. The scan over-counts (a
// table also ends at other blocks), which only makes it stricter, and it looks through
// quote markers and indentation, where tables nest.
func checkTables(md string) error {
	lines := strings.Split(md, "\n")
	// blockEnd[i] is the index of the first blank line at or after i, computed backwards so
	// that the scan stays linear however many delimiter rows a block has.
	blockEnd := make([]int, len(lines)+1)
	blockEnd[len(lines)] = len(lines)
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(strings.TrimLeft(lines[i], " \t>")) == "" {
			blockEnd[i] = i
		} else {
			blockEnd[i] = blockEnd[i+1]
		}
	}
	cells := 0
	for i, line := range lines {
		cols := delimiterColumns(line)
		if cols == 0 {
			continue
		}
		if cols > MaxTableColumns {
			return tooLarge("a table has %d columns, more than %d", cols, MaxTableColumns)
		}
		rows := blockEnd[i] - i // the delimiter row stands for the header
		if cells += cols * rows; cells > MaxTableCells {
			return tooLarge("its tables have more than %d cells", MaxTableCells)
		}
	}
	return nil
}

// delimiterColumns is the number of cells of line if it can be a table's delimiter row, else 0.
func delimiterColumns(line string) int {
	line = strings.TrimLeft(line, " \t>")
	if !strings.Contains(line, "|") || !strings.Contains(line, "-") || strings.Trim(line, " \t|:-") != "" {
		return 0
	}
	cols := 0
	for _, cell := range strings.Split(line, "|") {
		if strings.Contains(cell, "-") {
			cols++
		}
	}
	return cols
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
