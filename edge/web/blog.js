// The blog's page: posts by category and tag, search, a post with its comments, and a writer's
// editor. It is shown at /blog (the edge serves the same page there) and at #blog; a post is
// #blog/<slug>. It shares the app's connection and session (app.js), and its text is in the
// page's language (i18n.js).
//
// What users write is shown as text: titles, names, tags and comments go into textContent,
// never innerHTML. The one exception is a post's body, which the post service renders from
// markdown and sanitises (contracts.Post.HTML: no script, no handler, no javascript: URL).
// There is no preview endpoint: the preview is the service's own rendering of the draft,
// saved first.
//
// Reading a published post records a view in the visit log (the signed-in user, or an
// anonymous visitor by a random id kept in localStorage) and shows its views; the list shows
// the posts viewed most now. A comment alert for the writer (notify's post.commented and
// comment.replied) shows live above the blog; the notifications and the dev mailbox (app.js)
// show under it.

import { Blog, Log } from "../sdk/moa.js";
import { moa, session, showError, clearInvalid } from "./app.js";
import { t, locale, onLangChange } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const blog = new Blog(moa);
const visits = new Log(moa);
const me = () => session.user;
const isWriter = () => !!(me() && me().role === "writer");
const when = (s) => (s ? new Date(s).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" }) : "");
const PAGE = 10;
const EDITOR_FIELDS = { title: "bp-title", slug: "bp-slug", body: "bp-body", category: "bp-category", tags: "bp-tags" };

// The list shown: its kind (list, search or mine), its filters, and where the next page starts.
let list = { kind: "list", category: "", tag: "", query: "", cursor: "" };
let listed = []; // the rows' posts, drawn again when the language changes
let post = null; // the post open, if any
let comments = []; // its comments as loaded
let commentsCursor = "";
let commentMode = null; // {parent: comment} or {edit: comment} while replying or editing
let editing = null; // the post being edited (after its first save), or null for a new one
let categories = [];

const blogShown = () => location.pathname.endsWith("/blog") || location.hash.startsWith("#blog");

// ---- routing ----

// started is set once the connection is up: the app connects after restoring the session, and
// a call made before would open it anonymously.
let started = false;

function route() {
  const on = blogShown();
  document.body.dataset.page = on ? "blog" : "";
  $("blog").hidden = !on;
  $("blog-link").hidden = on;
  $("market-link").hidden = !on;
  if (!on || !started) return;
  const m = /^#blog\/(.+)$/.exec(location.hash);
  let slug = null;
  try { slug = m ? decodeURIComponent(m[1]) : null; } catch { /* a mangled address: the list */ }
  if (slug) openPost(slug);
  else showList();
}

function view(name) {
  $("blog-list-view").hidden = name !== "list";
  $("blog-editor").hidden = name !== "editor";
  $("blog-article").hidden = name !== "article";
}

function showList() {
  post = null;
  view("list");
  loadList(false);
  loadPopular();
}

// goPost shows a post by its slug (a hash change; the same hash again reads it anew).
function goPost(slug) {
  const h = "#blog/" + encodeURIComponent(slug);
  if (location.hash === h) openPost(slug);
  else location.hash = h;
}

function goList() {
  if (location.hash.startsWith("#blog/") || (!location.pathname.endsWith("/blog") && location.hash !== "#blog")) location.hash = "#blog";
  else showList();
}

// ---- lists ----

function chip(tag) {
  return el("li", {}, el("button", { type: "button", className: "chip", textContent: "#" + tag,
    onclick: () => { list = { kind: "list", category: "", tag, query: "", cursor: "" }; $("blog-tag").value = tag; goList(); } }));
}

function postRow(p) {
  const meta = [when(p.published_at || p.created_at)];
  if (p.category) meta.push(categoryName(p.category));
  if (p.status === "draft") meta.push(t("blog.draft"));
  const li = el("li", { className: "blog-post" },
    el("button", { type: "button", className: "link open-post", textContent: p.title, onclick: () => goPost(p.slug) }),
    " ", el("span", { className: "meta", textContent: meta.join(" · ") }),
    el("p", { className: "excerpt", textContent: p.excerpt }),
  );
  li.dataset.id = p.id;
  li.dataset.slug = p.slug;
  li.dataset.status = p.status;
  if (p.tags && p.tags.length) li.append(el("ul", { className: "chips" }, ...p.tags.map(chip)));
  return li;
}

function drawList() {
  $("blog-posts").replaceChildren(...listed.map(postRow));
  $("blog-more").hidden = !list.cursor;
  const r = $("blog-result");
  if (!listed.length && (!r.textContent || r.dataset.none)) { r.textContent = t("blog.none"); r.dataset.none = "1"; }
}

// notice is said under the list once it has loaded (a post was just deleted).
let notice = "";

async function loadList(more) {
  $("blog-result").textContent = notice;
  $("blog-result").dataset.none = "";
  notice = "";
  const q = { limit: PAGE, cursor: more ? list.cursor : undefined };
  try {
    let page;
    if (list.kind === "search") page = await blog.searchPosts(Object.assign(q, { query: list.query }));
    else if (list.kind === "mine") page = await blog.myPosts(q);
    else page = await blog.listPosts(Object.assign(q, { category: list.category || undefined, tag: list.tag || undefined }));
    listed = more ? listed.concat(page.items || []) : page.items || [];
    list.cursor = page.next_cursor || "";
    // What the list shows, for tests and styles: its kind and filters.
    Object.assign($("blog-posts").dataset, { kind: list.kind, category: list.category, tag: list.tag, query: list.query });
    drawList();
  } catch (e) { showError("blog-result", e); }
}

$("blog-search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const query = $("blog-q").value.trim();
  list = query ? { kind: "search", category: "", tag: "", query, cursor: "" } : { kind: "list", category: "", tag: "", query: "", cursor: "" };
  loadList(false);
});
$("blog-category").addEventListener("change", () => { list = { kind: "list", category: $("blog-category").value, tag: $("blog-tag").value.trim(), query: "", cursor: "" }; loadList(false); });
$("blog-tag").addEventListener("change", () => { list = { kind: "list", category: $("blog-category").value, tag: $("blog-tag").value.trim(), query: "", cursor: "" }; loadList(false); });
$("blog-all").addEventListener("click", () => {
  $("blog-q").value = ""; $("blog-tag").value = ""; $("blog-category").value = "";
  list = { kind: "list", category: "", tag: "", query: "", cursor: "" };
  loadList(false);
  loadPopular();
});

// ---- popular now ----

let popular = []; // the popular list's posts, drawn again when the language changes

function popularRow(p) {
  const li = el("li", { className: "popular-post" },
    el("button", { type: "button", className: "link open-post", textContent: p.title, onclick: () => openById(p.post_id) }),
    el("span", { className: "meta views", textContent: t("blog.views", { n: p.views }) }));
  li.dataset.id = p.post_id;
  li.dataset.views = String(p.views);
  return li;
}

function drawPopular() {
  $("blog-popular").replaceChildren(...popular.map(popularRow));
  $("blog-popular-box").hidden = !popular.length;
}

async function loadPopular() {
  try {
    popular = (await visits.popularNow({ limit: 5 })).items || [];
    drawPopular();
  } catch (e) { console.warn("popular now:", e); }
}

// openById opens a post the popular list or an alert names by id: the address is its slug.
async function openById(id) {
  try { goPost((await blog.getPost({ id })).slug); } catch (e) { showError("blog-result", e); }
}
$("blog-mine").addEventListener("click", () => { list = { kind: "mine", category: "", tag: "", query: "", cursor: "" }; loadList(false); });
$("blog-more").addEventListener("click", () => loadList(true));

// ---- categories ----

const categoryName = (slug) => (categories.find((c) => c.slug === slug) || { name: slug }).name;

async function loadCategories() {
  try { categories = (await blog.listCategories()).items || []; } catch (e) { showError("blog-result", e); return; }
  for (const [id, first] of [["blog-category", t("blog.category.all")], ["bp-category", t("blog.category.none")]]) {
    const s = $(id), was = s.value;
    s.replaceChildren(el("option", { value: "", textContent: first }), ...categories.map((c) => el("option", { value: c.slug, textContent: c.name })));
    s.value = categories.some((c) => c.slug === was) ? was : "";
  }
}

$("bp-addcat").addEventListener("click", async () => {
  const name = $("bp-newcat").value.trim();
  if (!name) { $("bp-newcat").focus(); return; }
  try {
    const c = await blog.createCategory(slugify(name) || "c-" + Date.now().toString(36), name);
    await loadCategories();
    $("bp-category").value = c.slug;
    $("bp-newcat").value = "";
    $("bp-result").textContent = t("blog.cat.added", { name: c.name });
  } catch (e) { showError("bp-result", e, { slug: "bp-newcat", name: "bp-newcat" }); }
});

// ---- a post ----

async function openPost(slug) {
  view("article");
  $("blog-article-result").textContent = "";
  try {
    post = await blog.getPost({ slug });
  } catch (e) {
    post = null;
    $("blog-title").textContent = "";
    $("blog-body").replaceChildren();
    $("blog-comments").replaceChildren();
    showError("blog-article-result", e);
    return;
  }
  drawPost();
  $("blog-article").focus();
  loadComments(false);
  countView(post);
}

// ---- views ----

const VISITOR = "moa.visitor";

// visitorId is this browser's anonymous visitor id for the visit log: made up once (128
// random bits in hex) and kept, so a reader who comes back is not counted again in the window.
function visitorId() {
  let id = "";
  try { id = localStorage.getItem(VISITOR) || ""; } catch { /* storage off: a new id per page */ }
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
    id = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
    try { localStorage.setItem(VISITOR, id); } catch { /* kept for this page only */ }
  }
  return id;
}

// referrer is the page the reader came from, when it is a web page (the log keeps its host).
function referrer() {
  const r = document.referrer;
  return /^https?:\/\//.test(r) && r.length <= 2048 ? r : undefined;
}

function drawViews(n) {
  const v = $("blog-views");
  v.hidden = n == null;
  v.dataset.views = n == null ? "" : String(n);
  v.textContent = n == null ? "" : t("blog.views", { n });
}

// countView records the reader's view of a published post and shows the post's views. The log
// learns of a post from the post service's event a moment after it is published, so a
// not_found is tried again a few times; a referrer the log refuses is left out.
async function countView(p) {
  drawViews(null);
  if (p.status !== "published") return;
  const v = { post_id: p.id, visitor_id: me() ? undefined : visitorId(), referrer: referrer() };
  for (let i = 0, wait = 300; i < 5; i++, wait *= 2) {
    try {
      await visits.recordView(v);
      break;
    } catch (e) {
      if (e.code === "validation_failed" && e.field === "referrer" && v.referrer) { v.referrer = undefined; i--; continue; }
      if (e.code !== "not_found" || i === 4) { console.warn("record view:", e); break; }
      await new Promise((r) => setTimeout(r, wait));
      if (!post || post.id !== p.id) return;
    }
  }
  try {
    const s = await visits.postStats(p.id);
    if (post && post.id === p.id) drawViews(s.views);
  } catch (e) { console.warn("post stats:", e); }
}

function drawPost() {
  if (!post) return;
  $("blog-title").textContent = post.title;
  const meta = [when(post.published_at || post.created_at)];
  if (post.category) meta.push(categoryName(post.category));
  if (post.status === "draft") meta.push(t("blog.draft"));
  $("blog-meta").textContent = meta.join(" · ");
  // The service's sanitised rendering (see the top of this file).
  $("blog-body").innerHTML = post.html;
  $("blog-tags").replaceChildren(...(post.tags || []).map(chip));
  const mine = !!(me() && me().id === post.author_id);
  $("blog-edit").hidden = !mine;
  $("blog-delete").hidden = !mine;
  $("blog-delete").dataset.armed = "";
  $("blog-delete").textContent = t("delete");
  $("blog-article").dataset.id = post.id;
  $("blog-article").dataset.status = post.status;
  drawCommentForm();
}

$("blog-back").addEventListener("click", goList);
$("blog-edit").addEventListener("click", () => { if (post) openEditor(post); });
// Deleting asks once more on the same button (no modal dialog).
$("blog-delete").addEventListener("click", async () => {
  const b = $("blog-delete");
  if (!post) return;
  if (!b.dataset.armed) { b.dataset.armed = "1"; b.textContent = t("blog.delete.sure"); return; }
  try {
    await blog.deletePost(post.id);
    notice = t("blog.deleted", { title: post.title });
    goList();
  } catch (e) { showError("blog-article-result", e); }
});

// ---- comments ----

async function loadComments(more) {
  if (!post) return;
  const id = post.id;
  try {
    const page = await blog.listComments({ post_id: id, limit: 50, cursor: more ? commentsCursor : undefined });
    if (!post || post.id !== id) return;
    comments = more ? comments.concat(page.items || []) : page.items || [];
    commentsCursor = page.next_cursor || "";
    drawComments();
  } catch (e) { showError("blog-comment-result", e); }
}

function commentRow(c) {
  const u = me();
  const mine = !!(u && u.id === c.author_id);
  const author = !!(u && post && u.id === post.author_id);
  let body = c.body;
  if (c.deleted) body = t("blog.comment.deleted");
  else if (c.hidden && !body) body = t("blog.comment.hidden");
  const meta = [when(c.created_at)];
  if (c.edited) meta.push(t("blog.comment.edited"));
  if (c.hidden) meta.push(t("blog.comment.hiddenmark"));
  const li = el("li", { className: "comment" + (c.parent_id ? " reply" : "") + (c.hidden || c.deleted ? " hidden-comment" : "") },
    el("span", { className: "title author", textContent: c.author_name }), " ",
    el("span", { className: "meta", textContent: meta.join(" · ") }),
    el("p", { className: "body", textContent: body }));
  li.dataset.id = c.id;
  const actions = el("div", { className: "row actions" });
  const button = (cls, key, fn, extra = "") => actions.append(el("button", { type: "button", className: "secondary " + cls + extra, textContent: t(key), onclick: fn }));
  if (!c.deleted) {
    if (u && !c.parent_id && post && post.status === "published") button("reply", "blog.reply", () => setMode({ parent: c }));
    if (mine) {
      button("edit-comment", "blog.edit", () => setMode({ edit: c }));
      button("delete-comment", "delete", () => act(() => blog.deleteComment(c.id)));
    }
    if (author && !mine) {
      button(c.hidden ? "unhide" : "hide", c.hidden ? "blog.unhide" : "blog.hide", () => act(() => blog.moderateComment(c.id, c.hidden ? "unhide" : "hide")));
      button("remove", "blog.remove", () => act(() => blog.moderateComment(c.id, "delete")));
    }
  }
  if (actions.children.length) li.append(actions);
  return li;
}

async function act(fn) {
  $("blog-comment-result").textContent = "";
  try { await fn(); await loadComments(false); } catch (e) { showError("blog-comment-result", e); }
}

function drawComments() {
  $("blog-comments").replaceChildren(...comments.map(commentRow));
  $("blog-comments").dataset.count = String(comments.length);
  $("blog-comments-more").hidden = !commentsCursor;
}

$("blog-comments-refresh").addEventListener("click", () => loadComments(false));
$("blog-comments-more").addEventListener("click", () => loadComments(true));

function drawCommentForm() {
  const open = !!(post && post.status === "published");
  $("blog-comment-form").hidden = !(open && me());
  $("blog-signin-to-comment").hidden = !(open && !me());
  $("blog-comment-mode").hidden = !commentMode;
  if (commentMode && commentMode.parent) $("blog-comment-mode-text").textContent = t("blog.replying", { name: commentMode.parent.author_name });
  if (commentMode && commentMode.edit) $("blog-comment-mode-text").textContent = t("blog.editing");
  $("blog-comment-send").textContent = t(commentMode && commentMode.edit ? "save" : commentMode ? "blog.reply" : "blog.comment.send");
}

function setMode(mode) {
  commentMode = mode;
  $("blog-comment").value = mode && mode.edit ? mode.edit.body : "";
  drawCommentForm();
  $("blog-comment").focus();
}

$("blog-comment-cancel").addEventListener("click", () => setMode(null));
$("blog-comment-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!post) return;
  clearInvalid("blog-comment-form");
  $("blog-comment-result").textContent = "";
  const body = $("blog-comment").value;
  try {
    if (commentMode && commentMode.edit) await blog.editComment(commentMode.edit.id, body);
    else await blog.addComment({ post_id: post.id, parent_id: commentMode && commentMode.parent ? commentMode.parent.id : undefined, body });
    commentMode = null;
    $("blog-comment").value = "";
    drawCommentForm();
    await loadComments(false);
    $("blog-comment-result").textContent = t("blog.comment.done");
  } catch (e) { showError("blog-comment-result", e, { body: "blog-comment" }); }
});

// ---- the editor ----

function slugify(s) {
  return s.normalize("NFC").toLowerCase().replace(/[^a-z0-9\uac00-\ud7a3]+/g, "-").replace(/^-+/, "").slice(0, 80).replace(/-+$/, "");
}

function openEditor(p) {
  editing = p || null;
  view("editor");
  $("blog-editor-h").textContent = t(p ? "blog.editor.edit" : "blog.editor.h");
  $("bp-title").value = p ? p.title : "";
  $("bp-slug").value = p ? p.slug : "";
  $("bp-category").value = p && p.category ? p.category : "";
  $("bp-tags").value = p ? (p.tags || []).join(", ") : "";
  $("bp-body").value = p ? p.body : "";
  $("bp-result").textContent = "";
  $("bp-preview-box").hidden = true;
  $("bp-preview-out").replaceChildren();
  clearInvalid("blog-editor");
  $("bp-title").focus();
}

function editorFields() {
  const title = $("bp-title").value;
  let slug = $("bp-slug").value.trim();
  if (!slug) { slug = slugify(title) || "post-" + Date.now().toString(36); $("bp-slug").value = slug; }
  const tags = $("bp-tags").value.split(",").map((s) => s.trim()).filter(Boolean);
  return { title, slug, body: $("bp-body").value, category: $("bp-category").value, tags };
}

// save writes the editor's fields: a new post is created (published or as a draft), a post
// already saved is updated (and published when asked).
async function save(publish) {
  const f = editorFields();
  if (!editing) {
    editing = await blog.createPost(Object.assign({ publish }, f, { category: f.category || undefined }));
    return editing;
  }
  const up = Object.assign({ id: editing.id }, f);
  if (publish && editing.status !== "published") up.status = "published";
  editing = await blog.updatePost(up);
  return editing;
}

$("bp-preview").addEventListener("click", async () => {
  clearInvalid("blog-editor");
  $("bp-result").textContent = "";
  try {
    const p = await save(false);
    $("bp-preview-out").innerHTML = p.html; // the service's sanitised rendering
    $("bp-preview-box").hidden = false;
    $("bp-result").textContent = t(p.status === "draft" ? "blog.saved.draft" : "blog.saved");
  } catch (e) { showError("bp-result", e, EDITOR_FIELDS); }
});
$("blog-editor").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearInvalid("blog-editor");
  $("bp-result").textContent = "";
  try {
    const p = await save(true);
    editing = null;
    goPost(p.slug);
  } catch (e) { showError("bp-result", e, EDITOR_FIELDS); }
});
$("bp-cancel").addEventListener("click", () => {
  const p = editing;
  editing = null;
  if (p) goPost(p.slug); else if (post) goPost(post.slug); else showList();
});
$("blog-new").addEventListener("click", () => openEditor(null));

// ---- identity and language ----

function drawWho() {
  $("blog-new").hidden = !isWriter();
  $("blog-mine").hidden = !isWriter();
}

// Signed in, out, or connected again: what the page shows may change (the writer's buttons,
// the comment form, hidden comments for the post's author). An open editor is left alone.
moa.on("authenticated", () => {
  started = true;
  drawWho();
  drawAlert();
  if (!blogShown()) return;
  loadCategories();
  if (!$("blog-editor").hidden) return;
  route();
});
onLangChange(() => {
  if (!blogShown()) return;
  loadCategories().then(() => { drawList(); drawPopular(); drawPost(); drawComments(); drawAlert(); });
  const v = $("blog-views");
  if (v.dataset.views) drawViews(Number(v.dataset.views));
});
addEventListener("hashchange", route);

// ---- the comment alert ----

// The latest alert about a comment for this user, pushed live: a comment on their post or a
// reply to their comment. Its text is the page's; the post is opened by its slug.
let alertNote = null;

function drawAlert() {
  const on = !!(alertNote && me() && me().id === alertNote.user);
  $("blog-alert").hidden = !on;
  if (!on) return;
  $("blog-alert-text").textContent = t("blog.alert." + alertNote.kind, { title: alertNote.title });
  $("blog-alert").dataset.kind = alertNote.kind;
  $("blog-alert").dataset.post = alertNote.slug;
}

moa.on("notification", (n) => {
  if (n.kind !== "post.commented" && n.kind !== "comment.replied") return;
  const d = n.data || {};
  // The post's title is in the notification's body, quoted ("… your post "Title":").
  const m = /"((?:[^"\\]|\\.)*)"/.exec(n.body || "");
  let title = d.post_slug || "";
  try { if (m) title = JSON.parse('"' + m[1] + '"'); } catch { /* the slug then */ }
  alertNote = { kind: n.kind, slug: d.post_slug || "", title, seq: n.seq, user: me() && me().id };
  drawAlert();
  // The post open is the one commented on: its comments are read again.
  if (post && post.id === d.post_id) loadComments(false);
});
$("blog-alert-open").addEventListener("click", () => { if (alertNote && alertNote.slug) goPost(alertNote.slug); });
drawWho();
route();
