package domain_test

import (
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/services/post/domain"
)

// xssCorpus is a selection of the OWASP XSS filter evasion cheat sheet and of the payload lists
// that follow it (PayloadsAllTheThings, the HTML5 Security Cheatsheet), written as a writer
// could put them in markdown: raw HTML, markdown links and images with dangerous targets, and
// encoded variants of both.
var xssCorpus = []string{
	`<script>alert(1)</script>`,
	`<SCRIPT SRC=http://xss.rocks/xss.js></SCRIPT>`,
	`<scr<script>ipt>alert(1)</scr</script>ipt>`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`<iframe srcdoc="<script>alert(1)</script>"></iframe>`,
	`<img src=x onerror=alert(1)>`,
	`<IMG SRC="jav&#x09;ascript:alert('XSS');">`,
	`<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>`,
	`<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>`,
	`<svg onload=alert(1)>`,
	`<svg><script>alert(1)</script></svg>`,
	`<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">XSS</text></a></svg>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	`<body onload=alert(1)>`,
	`<div style="background:url(javascript:alert(1))">x</div>`,
	`<a href="javascript:alert(1)">click</a>`,
	`<a href="JaVaScRiPt:alert(1)">click</a>`,
	`<a href=" javascript:alert(1)">click</a>`,
	`<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>`,
	`<object data="javascript:alert(1)"></object>`,
	`<embed src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">`,
	`<form action="javascript:alert(1)"><button>go</button></form>`,
	`<input autofocus onfocus=alert(1)>`,
	`<details open ontoggle=alert(1)>`,
	`<video><source onerror="alert(1)"></video>`,
	`<meta http-equiv="refresh" content="0;url=javascript:alert(1)">`,
	`<base href="javascript:alert(1)//">`,
	`<link rel=stylesheet href="javascript:alert(1)">`,
	`<style>@import 'javascript:alert(1)';</style>`,
	`<p title="</p><script>alert(1)</script>">x</p>`,
	"[click](javascript:alert(1))",
	"[click](JAVASCRIPT:alert(1))",
	"[click](javascript&#58;alert(1))",
	"[click](&#106;avascript:alert(1))",
	"[click](%6A%61%76%61%73%63%72%69%70%74:alert(1))",
	"[click](vbscript:msgbox(1))",
	"[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
	"![x](javascript:alert(1))",
	"![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
	`![x](x" onerror="alert(1))`,
	`[x](https://example.com "title\" onmouseover=\"alert(1)")`,
	"<javascript:alert(1)>",
	"[ref]\n\n[ref]: javascript:alert(1)",
	"```html\n<script>alert(1)</script>\n```",
	"`<script>alert(1)</script>`",
	"<!-- --><script>alert(1)</script>",
	"<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
	"<a href=\"https://example.com\" onclick=\"alert(1)\">ok</a>",
	"| a |\n|---|\n| <img src=x onerror=alert(1)> |",
	"* [ ] <script>alert(1)</script>",
}

// allowedElements are the only elements the sanitised HTML may contain: text structure, links
// and images. Nothing that runs, embeds, styles or submits.
var allowedElements = map[string]bool{
	"p": true, "a": true, "img": true, "em": true, "strong": true, "del": true, "code": true, "pre": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "ul": true, "ol": true, "li": true,
	"blockquote": true, "hr": true, "br": true, "table": true, "thead": true, "tbody": true, "tr": true, "th": true,
	"td": true, "input": true, "span": true, "div": true, "details": true, "summary": true,
}

// TestRenderXSSCorpus renders every payload, alone and inside ordinary markdown, and parses the
// output as a browser would: no element outside the allowlist, no event-handler or style
// attribute, no URL attribute with a scheme other than http, https or mailto, and no input
// that is not a disabled checkbox (the only one task lists render).
func TestRenderXSSCorpus(t *testing.T) {
	for _, payload := range xssCorpus {
		for _, md := range []string{payload, "Intro *text*.\n\n" + payload + "\n\nOutro."} {
			r, err := domain.Render(md)
			if err != nil {
				t.Fatal(err)
			}
			out := r.HTML
			if problem := unsafeHTML(out); problem != "" {
				t.Errorf("payload %q rendered %q: %s", md, out, problem)
			}
		}
	}
}

func unsafeHTML(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.CommentToken:
			return "an HTML comment survived"
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			if !allowedElements[tok.Data] {
				return "element <" + tok.Data + ">"
			}
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				if strings.HasPrefix(key, "on") || key == "style" || key == "srcdoc" || key == "formaction" || a.Namespace != "" {
					return "attribute " + key
				}
				if key == "href" || key == "src" || key == "action" || key == "xlink:href" || key == "cite" || key == "background" {
					if bad := badURL(a.Val); bad != "" {
						return key + " " + bad
					}
				}
				if tok.Data == "input" && key == "type" && a.Val != "checkbox" {
					return "input of type " + a.Val
				}
			}
		}
	}
}

// badURL names the scheme of a URL that is not http, https, mailto or relative, after the
// decoding a browser does (entities are already decoded by the tokenizer; spaces and control
// characters are stripped by browsers before the scheme is read).
func badURL(u string) string {
	clean := strings.Map(func(r rune) rune {
		if r <= ' ' {
			return -1
		}
		return r
	}, strings.ToLower(u))
	i := strings.IndexAny(clean, ":/?#")
	if i < 0 || clean[i] != ':' {
		return "" // relative
	}
	switch clean[:i] {
	case "http", "https", "mailto":
		return ""
	}
	return "scheme " + clean[:i]
}

// Ordinary markdown still renders: the sanitiser keeps what writers need.
func TestRenderKeepsMarkdown(t *testing.T) {
	r, err := domain.Render("# 제목\n\nSome **bold**, a [link](https://example.com/a?b=c), `code`,\n\n- one\n- two\n\n![alt](https://img.example.com/x.png)\n\n~~gone~~")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h1", "제목</h1>", "<strong>bold</strong>", `href="https://example.com/a?b=c"`, "<code>code</code>",
		"<li>one</li>", `src="https://img.example.com/x.png"`, "<del>gone</del>"} {
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML %q lacks %q", r.HTML, want)
		}
	}
	if r.Text != "제목 Some bold, a link, code, one two gone" {
		t.Errorf("text %q", r.Text)
	}
}

// The checker itself catches what it looks for, so a sanitiser that let them through would
// fail TestRenderXSSCorpus.
func TestUnsafeHTMLCatchesVectors(t *testing.T) {
	for _, s := range []string{
		`<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<a href="jav&#x09;ascript:alert(1)">x</a>`,
		`<a href=" JAVASCRIPT:alert(1)">x</a>`, `<img src="data:image/svg+xml;base64,AAAA">`, `<svg onload=alert(1)>`,
		`<iframe src="https://example.com"></iframe>`, `<p style="x">y</p>`, `<!-- x -->`, `<input type="text">`,
	} {
		if unsafeHTML(s) == "" {
			t.Errorf("%q passed the checker", s)
		}
	}
	if p := unsafeHTML(`<p><a href="https://example.com" rel="nofollow">x</a> <img src="/a.png"></p>`); p != "" {
		t.Errorf("safe HTML refused: %s", p)
	}
}

// Size limits refuse a body as validation_failed on body; tables nested in quotes count, and
// ordinary tables, rules and lists pass.
func TestRenderLimits(t *testing.T) {
	wide := strings.Repeat("|a", 65) + "|\n" + strings.Repeat("|-", 65) + "|\n"
	for name, md := range map[string]string{
		"wide table":        wide,
		"quoted wide table": "> " + strings.Repeat("| a ", 65) + "|\n> " + strings.Repeat("| --- ", 65) + "|\n",
		"many cells":        "|a|b|\n|-|-|\n" + strings.Repeat("x\n", domain.MaxTableCells),
		"huge html":         strings.Repeat("[a]\n", 20_000) + "\n[a]: https://example.com/" + strings.Repeat("p", 200),
		"huge on the wire":  strings.Repeat("&", 90_000),
	} {
		_, err := domain.Render(md)
		if ce := contracts.AsError(err); ce == nil || ce.Code != contracts.ErrValidation.Code || ce.Field != "body" {
			t.Errorf("%s: got %v, want validation_failed on body", name, err)
		}
	}
	for name, md := range map[string]string{
		"64 columns": strings.Repeat("|a", 64) + "|\n" + strings.Repeat("|-", 64) + "|\n" + strings.Repeat("|1", 64) + "|",
		"rules":      strings.Repeat("a\n\n---\n\n- - -\n\n", 1000),
		"list":       strings.Repeat("- item\n", 5000),
	} {
		if _, err := domain.Render(md); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
