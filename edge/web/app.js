// The Moa demo page: everything goes through one WebSocket to the edge, with the SDK.
import { BrowserSession, MoaClient, MoaError } from "../sdk/moa.js";
import { t, has, locale, applyStatic, setLang, onLangChange } from "./i18n.js";
import { showPayouts } from "./payout.js";

// The page's static text in the chosen language, before anything else shows; the switch in the
// header changes it, and what the app drew is drawn again in the new language.
applyStatic(document);

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};

// The session is the browser's, shared by its tabs: the refresh token is in an HttpOnly
// cookie only the edge's session/ endpoints see; this tab keeps its access token in memory
// (BrowserSession in the SDK). Signing out in one tab signs every tab out.
const session = new BrowserSession();
const me = () => session.user;
let config = {}; // /config.json: mailbox_url, dev_mailbox

const moa = new MoaClient({
  token: () => session.accessToken,
  refresh: () => session.refresh(),
  // No storageKey: every page load catches up from the first notification the service
  // still holds, so a reload shows the recent ones again.
});

// Another tab signed out (or the session ended), or another tab signed in while this one shows
// nobody or somebody else: start this tab over with the browser's session as it is now.
session.on("signed-out", () => location.reload());
session.on("signed-in", (d) => { if (!me() || me().id !== d.user_id) location.reload(); });

// The blog's page (static/blog.js) shares this tab's connection and session.
export { moa, session, showError, clearInvalid };

// showError writes a failed call's code and message under a form; when the error names a
// field of that form (fields maps API field names to input ids), the input is marked invalid,
// described by the message, and focused, so a keyboard or screen-reader user lands on it.
const showError = (target, e, fields = {}) => {
  $(target).textContent = e instanceof MoaError ? `${e.code}: ${e.message}` : String(e);
  const input = e instanceof MoaError && e.field ? $(fields[e.field] || "") : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", target);
    input.focus();
  }
};
// clearInvalid unmarks a form's inputs before it is submitted again.
const clearInvalid = (form) => { for (const i of $(form).querySelectorAll("[aria-invalid]")) { i.removeAttribute("aria-invalid"); i.removeAttribute("aria-describedby"); } };
const PRODUCT_FIELDS = { title: "p-title", description: "p-description", price_amount: "p-price", currency: "p-currency",
  billing_period: "p-period", terms: "p-terms", capacity: "p-capacity", tags: "p-tags" };
const money = (amount, currency) => {
  // Amounts are in minor units; Intl knows how many a currency has (KRW none, USD two).
  try {
    const f = new Intl.NumberFormat(locale(), { style: "currency", currency });
    return f.format(amount / 10 ** f.resolvedOptions().maximumFractionDigits);
  }
  catch { return `${amount} ${currency}`; }
};

// ---- lists that re-render live ----

// morph makes old look and act like fresh (the same row built anew from newer data) while
// keeping old and its descendants in the document: a focused button, a caret or an open
// <details> survives the live updates that re-render a list (seat counts, views, saga steps).
// Where the shapes differ (a row gained a button), old's children are replaced.
function morph(old, fresh) {
  if (old.nodeType !== Node.ELEMENT_NODE) { if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue; return; }
  for (const a of [...old.attributes]) {
    if (!fresh.hasAttribute(a.name) && !(a.name === "open" && old.localName === "details")) old.removeAttribute(a.name);
  }
  for (const a of fresh.attributes) if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  old.onclick = fresh.onclick; // handlers hold the row's data: the fresh ones hold the newer
  if ("disabled" in old) old.disabled = fresh.disabled;
  const oc = [...old.childNodes], fc = [...fresh.childNodes];
  const same = oc.length === fc.length && oc.every((c, i) => c.nodeType === fc[i].nodeType && c.nodeName === fc[i].nodeName);
  if (!same) { old.replaceChildren(...fc); return; }
  oc.forEach((c, i) => morph(c, fc[i]));
}

// focusKey names the focused element inside list by stable keys (its row's data-id and its
// class), so it can be found again after the list changed.
function focusKey(list) {
  const a = document.activeElement;
  if (!a || a === list || !list.contains(a)) return null;
  const row = [...list.children].find((r) => r.contains(a));
  return { row, id: row.dataset.id, cls: a.className, index: [...list.children].indexOf(row) };
}

// renderRows shows rows (fresh elements, each with a data-id) in list: a row already shown
// (same data-id) is updated in place, new ones are inserted, gone ones removed, and only rows
// out of place are moved. If the focus was in the list and its element left the document
// anyway (its row went, or changed shape), it goes to the same control of the same product,
// or to the row now in that place.
function renderRows(list, rows) {
  const key = focusKey(list);
  const ids = new Set();
  rows = rows.filter((r) => !ids.has(r.dataset.id) && ids.add(r.dataset.id)); // a product that moved pages during a refresh shows once
  const old = new Map([...list.children].filter((r) => r.dataset.id).map((r) => [r.dataset.id, r]));
  const keep = rows.map((r) => { const o = old.get(r.dataset.id); if (o && o.localName === r.localName) { morph(o, r); return o; } return r; });
  keep.forEach((r, i) => { if (list.children[i] !== r) list.insertBefore(r, list.children[i] || null); });
  while (list.children.length > keep.length) list.lastElementChild.remove();
  if (!key || list.contains(document.activeElement)) return;
  const row = keep.find((r) => r.dataset.id === key.id) || keep[Math.min(key.index, keep.length - 1)];
  if (!row) { list.setAttribute("tabindex", "-1"); list.focus(); return; }
  const same = [...row.querySelectorAll("button, a, input, select, textarea, [tabindex]")];
  (same.find((e) => e.className === key.cls) || same[0] || row).focus();
}

// ---- connection and identity ----

// The connection's state is kept as a key and its parameters, so a switch of language redraws it.
let statusNow = ["status.connecting", {}];
const showStatus = (key, params = {}) => { statusNow = [key, params]; $("status").textContent = t(key, params); };
moa.on("open", () => { showStatus("status.connected"); $("status").className = "status online"; });
moa.on("close", (e) => { showStatus("status.disconnected", { code: e.code, reason: e.reason }); $("status").className = "status"; });
moa.on("reconnecting", (e) => { showStatus("status.reconnecting", { ms: Math.round(e.in_ms) }); });
// state shows a subscription state in the page's language (a state the dictionary does not
// know is shown as the service sent it).
const state = (s) => (has("state." + s) ? t("state." + s) : s);
const period = (p) => (has("period." + p) ? t("period." + p) : p);
// per is the period after a price ("₩5,900 / 월" in Korean, "/ monthly" in English).
const per = (p) => (t("per." + p) !== "per." + p ? t("per." + p) : period(p));
// word shows a word the services send (a payment's kind or status) in the page's language, as sent when unknown.
const word = (group, w) => (has(group + "." + w) ? t(group + "." + w) : w);

$("lang").addEventListener("change", () => setLang($("lang").value));
onLangChange(() => {
  $("status").textContent = t(...statusNow);
  render();
  if (shown) showProduct(shown);
});
moa.on("authenticated", () => render());

function render() {
  const u = me();
  $("whoami").textContent = u ? `${u.display_name} (${has("role." + u.role) ? t("role." + u.role) : u.role})` : t("whoami.none");
  $("whoami").dataset.role = u ? u.role : "";
  $("auth").hidden = !!u;
  $("signout").hidden = !u;
  $("seller").hidden = !(u && u.role === "seller");
  $("chat").hidden = !u;
  $("notifications-card").hidden = !u;
  $("subscriptions").hidden = !(u && u.role === "consumer");
  $("mailbox").hidden = !(u && (config.dev_mailbox || config.mailbox_url));
  if (u) {
    loadRooms();
    if (u.role === "seller") { loadMyProducts(); loadDashboard(); showPayouts(moa); } else if (u.role === "consumer") loadSubscriptions();
    loadMail();
  }
  loadProducts();
  loadSearchHistory();
}

async function signIn(email, password) {
  await session.signIn(email, password);
  await moa.authenticate(session.accessToken);
}

$("auth-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("auth-error").textContent = "";
  try { await signIn($("email").value, $("password").value); } catch (e) { showError("auth-error", e); }
});
$("signup").addEventListener("click", async () => {
  $("auth-error").textContent = "";
  try {
    await moa.call("auth.signup", { email: $("email").value, password: $("password").value,
      role: $("role").value, display_name: $("display-name").value || $("email").value.split("@")[0] });
    await signIn($("email").value, $("password").value);
  } catch (e) { showError("auth-error", e); }
});
$("signout").addEventListener("click", async () => {
  try { await session.signOut(); } catch (e) { showError("auth-error", e); return; }
  location.reload();
});

// ---- catalog ----

// paced makes the lookups a list needs per row (titles, payments) one at a time, at most one
// every 60 ms: the edge limits each connection to 20 frames a second (bursts of 40), and a
// list of 50 rows asked for at once would be cut off by it.
let paceChain = Promise.resolve();
function paced(method, body) {
  const run = paceChain.then(() => moa.call(method, body));
  paceChain = run.catch(() => {}).then(() => new Promise((r) => setTimeout(r, 60)));
  return run;
}

// titles caches product titles by id, for rows that only carry an id (dashboard, subscriptions);
// one lookup per product even when many rows ask at once.
const titles = new Map();
const titleLookups = new Map();
async function titleOf(id) {
  if (titles.has(id)) return titles.get(id);
  if (!titleLookups.has(id)) {
    titleLookups.set(id, paced("catalog.get_product", { id }).then((p) => { titles.set(id, p.title); return p.title; })
      .catch(() => id.slice(0, 8) + "…").finally(() => titleLookups.delete(id)));
  }
  return titleLookups.get(id);
}

function productItem(p) {
  titles.set(p.id, p.title);
  const open = el("button", { className: "link open-product", textContent: p.title, onclick: () => openProduct(p.id) });
  open.setAttribute("aria-label", t("details", { title: p.title }));
  const li = el("li", { className: "product" }, open, " ",
    el("span", { className: "meta", textContent: t("product.meta", { price: money(p.price_amount, p.currency), period: per(p.billing_period), taken: p.seats_taken, capacity: p.capacity, views: p.views }) }));
  li.dataset.id = p.id;
  const u = me();
  if (u && u.role === "consumer") {
    li.append(el("button", { className: "subscribe", textContent: t("subscribe"), onclick: () => subscribe(p) }),
      el("button", { className: "chat-seller secondary", textContent: t("chat.seller"), onclick: () => chatAbout(p) }));
  }
  return li;
}

// The list on screen: a search (query) or the catalog (sort, tag), as pages loaded so far;
// next is the keyset cursor of the page after them ("" on the last page).
let listing = { query: "", sort: "newest", tag: "", pages: 0, next: "" };

function fetchPage(l, cursor) {
  const paging = { limit: 20, ...(cursor ? { cursor } : {}) };
  if (l.query) return moa.call("catalog.search_products", { query: l.query, ...paging });
  return moa.call("catalog.list_products", { sort: l.sort, ...(l.tag ? { tag: l.tag } : {}), ...paging });
}

// loadProducts shows the first page of the catalog (or of a search); keep leaves the last
// message in place (a refresh the user did not ask for).
async function loadProducts(query, keep = false) {
  if (!keep) $("browse-result").textContent = "";
  const l = { query: query || "", sort: $("sort").value, tag: $("tag-filter").value.trim(), pages: 0, next: "" };
  listing = l;
  $("load-more").hidden = true; // until this listing's first page is in: "more" of what the list shows now would be lost
  try {
    const page = await fetchPage(l);
    if (listing !== l) return; // a newer listing started meanwhile
    l.pages = 1;
    l.next = page.next_cursor || "";
    renderRows($("products"), page.items.map(productItem));
    $("products").dataset.query = l.query; // what the list shows the results of ("" for the catalog)
    $("load-more").hidden = !l.next;
    if (!page.items.length) $("browse-result").textContent = l.query ? t("nothing.found") : t("no.products");
    // The search service learns of a search from the catalog's event, a moment later.
    if (l.query) { setTimeout(loadSearchHistory, 700); setTimeout(loadSearchHistory, 2500); }
  } catch (e) { showError("browse-result", e); }
}

async function loadMoreProducts() {
  const l = listing;
  if (!l.next) return;
  $("load-more").disabled = true;
  try {
    const page = await fetchPage(l, l.next);
    if (listing !== l) return;
    l.pages++;
    l.next = page.next_cursor || "";
    const first = page.items.length ? productItem(page.items[0]) : null;
    $("products").append(...(first ? [first] : []), ...page.items.slice(1).map(productItem));
    $("load-more").hidden = !l.next;
    if (first) first.querySelector(".open-product").focus(); // keyboard users continue where the new items start
  } catch (e) { showError("browse-result", e); } finally { $("load-more").disabled = false; }
}

// refreshProducts reloads the pages already shown (seat counts change with every
// subscription) without losing the place in the list.
async function refreshProducts() {
  const l = listing;
  // A search is not run again on its own: each first-page search of a signed-in user counts
  // in the search history, and a notification is not a search. The product page stays live.
  if (l.query) return;
  if (!l.pages) return loadProducts(l.query, true);
  try {
    const items = [];
    let cursor = "";
    for (let i = 0; i < l.pages; i++) {
      const page = await fetchPage(l, cursor);
      items.push(...page.items);
      cursor = page.next_cursor || "";
      if (!cursor) break;
    }
    if (listing !== l) return;
    l.next = cursor;
    renderRows($("products"), items.map(productItem));
    $("load-more").hidden = !l.next;
  } catch (e) { console.warn("refresh:", e); }
}

$("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadProducts($("q").value.trim()); });
$("refresh-products").addEventListener("click", () => { $("q").value = ""; loadProducts(); });
$("load-more").addEventListener("click", () => loadMoreProducts());
$("sort").addEventListener("change", () => { $("q").value = ""; loadProducts(); });
$("tag-filter").addEventListener("change", () => { $("q").value = ""; loadProducts(); });

// ---- product page ----

let shown = null; // the product on the product page
let shownTimer = null;

// openProduct counts a view (once per viewer a day, by the catalog) and shows the product;
// while it is open the seats and views are re-read, since other people subscribe meanwhile.
async function openProduct(id) {
  $("product-result").textContent = "";
  try {
    const v = await moa.call("catalog.view_product", { id });
    const p = await moa.call("catalog.get_product", { id });
    showProduct(p, v.views);
    $("product").hidden = false;
    $("product").focus();
    clearInterval(shownTimer);
    shownTimer = setInterval(() => { if (!document.hidden) refreshProduct(); }, 5000);
  } catch (e) { showError("browse-result", e); }
}

async function refreshProduct() {
  if (!shown) return;
  try { showProduct(await moa.call("catalog.get_product", { id: shown.id })); } catch (e) {
    if (e.code === "not_found") closeProduct(); else console.warn("product:", e);
  }
}

function closeProduct() {
  clearInterval(shownTimer);
  const id = shown && shown.id;
  const hadFocus = $("product").contains(document.activeElement);
  shown = null;
  $("product").hidden = true;
  // Back to where the keyboard user came from: the product in the list, when it is there.
  const back = id && [...$("products").children].find((li) => li.dataset.id === id);
  if (back && hadFocus) back.querySelector(".open-product").focus();
}
$("close-product").addEventListener("click", closeProduct);

function showProduct(p, views) {
  // The view count of get_product may be cached; the one view_product answered is fresh.
  const seen = Math.max(p.views, views || 0, shown && shown.id === p.id ? shown.views : 0);
  shown = { ...p, views: seen };
  titles.set(p.id, p.title);
  $("product").dataset.id = p.id;
  $("product-title").textContent = p.title;
  $("product-price").textContent = t("price.per", { price: money(p.price_amount, p.currency), period: per(p.billing_period) });
  const left = Math.max(0, p.capacity - p.seats_taken);
  $("product-seats").textContent = t("seats.left", { left, capacity: p.capacity });
  $("product-seats").dataset.left = String(left);
  $("product-views").textContent = t("views", { n: seen });
  $("product-views").dataset.views = String(seen);
  $("product-description").textContent = p.description || "";
  $("product-tags").replaceChildren(...(p.tags || []).map((t) => el("li", { textContent: t })));
  $("product-terms-version").textContent = t("version", { v: p.terms_version });
  $("product-terms").textContent = p.terms;
  const u = me();
  const actions = [];
  if (u && u.role === "consumer") {
    actions.push(el("button", { id: "product-subscribe", textContent: t("subscribe"), disabled: left === 0, onclick: () => subscribe(p) }),
      el("button", { className: "secondary", textContent: t("chat.seller"), onclick: () => chatAbout(p) }));
  }
  if (u && u.id === p.seller_id) actions.push(el("button", { className: "secondary", textContent: t("edit"), onclick: () => editProduct(p.id) }));
  // data-action names the button in English whatever the language (tests and focus keeping use it).
  const ACTION = { [t("subscribe")]: "Subscribe", [t("chat.seller")]: "Chat with seller", [t("edit")]: "Edit" };
  for (const b of actions) b.dataset.action = ACTION[b.textContent] || b.textContent;
  // The 5 s refresh rebuilds the buttons (their handlers hold the fresh product): a keyboard
  // user whose focus was on one keeps it on the same button, not thrown back to the page.
  const box = $("product-actions");
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  box.replaceChildren(...actions);
  const again = focused && actions.find((b) => b.dataset.action === focused && !b.disabled);
  if (again) again.focus();
  else if (focused) $("product").focus();
}

// ---- subscriptions ----

// Subscribing starts a saga (seat, then payment) that runs after the call answers: the page
// watches it until it ends, so "PENDING" turns into ACTIVE (or CANCELLED) with its steps.
async function subscribe(p) {
  try {
    const s = await moa.call("subscription.subscribe", { product_id: p.id, idempotency_key: crypto.randomUUID() });
    titles.set(p.id, p.title);
    $("browse-result").textContent = t("sub.result", { title: p.title, state: state(s.state) });
    $("browse-result").dataset.sub = s.id;
    loadSubscriptions();
    watch(s.id, true);
  } catch (e) { showError("browse-result", e); }
}

const settled = (state) => state === "ACTIVE" || state === "CANCELLED";
const watching = new Set();
// gaveUp holds the subscriptions whose watch reached its deadline unsettled: reloading the list
// (every notification does) must not start them again, or a stuck saga would be polled for
// as long as the page is open. Its terminal notification still reloads the list.
const gaveUp = new Set();

// watch re-reads one subscription until its saga settles (the terminal notification also
// reloads the list; the steps in between have no notification of their own). The pause grows
// from 700 ms to 5 s; after two minutes it stops for good, unless the user acts on the
// subscription again (fresh).
async function watch(id, fresh = false) {
  if (fresh) gaveUp.delete(id);
  if (watching.has(id) || gaveUp.has(id)) return;
  watching.add(id);
  const deadline = Date.now() + 120000;
  let pause = 700;
  try {
    for (;;) {
      if (Date.now() >= deadline) { gaveUp.add(id); break; }
      if (!me()) break;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(5000, pause * 1.5);
      let s;
      try { s = await paced("subscription.get", { id }); } catch (e) { if (e.retryable) continue; break; }
      await showSubscription(s);
      if (settled(s.state)) break;
    }
  } finally { watching.delete(id); }
}

// sagaSteps lists the saga's steps as far as the subscription and its payments tell them
// (contracts/subscription.go has the saga): status is done, now (in progress), failed or todo.
function sagaSteps(s, payments) {
  const charge = payments.find((p) => p.kind === "charge");
  const refund = payments.find((p) => p.kind === "refund");
  const paid = (charge && charge.status === "SUCCEEDED") || s.state === "ACTIVE" || s.reason === "by_consumer";
  const ending = s.state === "CANCELLING" || s.state === "CANCELLED";
  const noSeat = s.reason === "seat_unavailable";
  const seat = !noSeat && (!!charge || paid || s.reason === "payment_failed");
  const steps = [{ key: "requested", label: t("step.requested"), status: "done" }];
  steps.push({ key: "seat", label: noSeat ? t("step.noseat") : t("step.seat"),
    status: noSeat ? "failed" : seat ? "done" : s.state === "PENDING" ? "now" : "todo" });
  if (!noSeat) {
    const failed = s.reason === "payment_failed" || (charge && charge.status === "FAILED");
    steps.push({ key: "paid", label: failed ? t("step.declined") : charge ? t("step.paid.amount", { amount: money(charge.amount_minor, charge.currency) }) : t("step.paid"),
      status: failed ? "failed" : paid ? "done" : seat && s.state === "PENDING" ? "now" : "todo" });
  }
  if (!ending) {
    steps.push({ key: "active", label: s.active_until ? t("step.active.until", { date: new Date(s.active_until).toLocaleDateString(locale()) }) : t("step.active"),
      status: s.state === "ACTIVE" ? "done" : "todo" });
    return steps;
  }
  // The compensation path: what was done is undone before the saga ends.
  if (s.reason === "by_consumer") steps.push({ key: "active", label: t("step.active"), status: "done" });
  steps.push({ key: "cancel", label: t("step.cancelling", { reason: reasonText(s.reason) }), status: "done" });
  if (paid && (s.reason === "by_consumer" || s.reason === "timed_out")) {
    const amount = refund ? refund.amount_minor : s.refund_minor || 0;
    steps.push({ key: "refund", label: t("step.refunded", { amount: money(amount, s.currency) }),
      status: (refund && refund.status === "SUCCEEDED") || s.state === "CANCELLED" ? "done" : "now" });
  }
  if (seat) steps.push({ key: "release", label: t("step.released"), status: s.state === "CANCELLED" ? "done" : "now" });
  steps.push({ key: "cancelled", label: t("step.cancelled"), status: s.state === "CANCELLED" ? "done" : "now" });
  return steps;
}

function reasonText(r) {
  if (!r) return t("reason.none");
  return has("reason." + r) ? t("reason." + r) : r;
}

const MARK = { done: "✓", now: "…", failed: "✗", todo: "○" };
const SAYS = (status) => t("says." + status);

// paymentsOf lists a subscription's charges and refunds; read once per settled state of the
// subscription (a cancel makes a refund follow, so the key moves with the state and its time).
const paymentCache = new Map();
async function paymentsOf(s) {
  const key = `${s.id}:${s.state}:${s.updated_at}`;
  if (paymentCache.has(key)) return paymentCache.get(key);
  let items = [];
  try { items = (await paced("billing.payments", { subscription_id: s.id })).items; } catch { /* steps from the state alone */ }
  if (settled(s.state)) paymentCache.set(key, items);
  return items;
}

async function subscriptionItem(s) {
  const payments = await paymentsOf(s);
  const title = await titleOf(s.product_id);
  const li = el("li", { className: "subscription" }, el("strong", { className: "state", textContent: state(s.state) }), " ", el("span", { textContent: title }), " ",
     el("span", { className: "meta", textContent: `${money(s.price_minor, s.currency)} / ${per(s.billing_period)}${s.reason ? " · " + reasonText(s.reason) : ""}` }));
  li.dataset.id = s.id;
  li.dataset.state = s.state;
  const steps = el("ol", { className: "steps" });
  steps.setAttribute("aria-label", t("steps.of", { title }));
  for (const st of sagaSteps(s, payments)) {
    const step = el("li", { className: "step " + st.status, textContent: `${MARK[st.status]} ${st.label}` });
    step.dataset.step = st.key;
    step.dataset.status = st.status;
    step.setAttribute("aria-label", `${st.label}: ${SAYS(st.status)}`);
    steps.append(step);
  }
  li.append(steps);
  if (payments.length) {
    li.append(el("ul", { className: "payments meta" }, ...payments.map((p) => el("li", {
      textContent: `${word("kind", p.kind)} ${money(p.amount_minor, p.currency)} · ${word("pay", p.status)}${p.failure_code ? " (" + p.failure_code + ")" : ""} · ${new Date(p.created_at).toLocaleString(locale())}` }))));
  }
  if (s.state === "ACTIVE") {
    li.append(el("button", { className: "secondary cancel", textContent: t("cancel"), onclick: async () => {
      try { watch((await moa.call("subscription.cancel", { id: s.id })).id, true); loadSubscriptions(); } catch (e) { showError("subscriptions-result", e); }
    } }));
  }
  return li;
}

// showSubscription replaces one row (and the message the subscribe left, if it is this one's).
async function showSubscription(s) {
  const li = await subscriptionItem(s);
  const old = [...$("my-subscriptions").children].find((r) => r.dataset.id === s.id);
  if (old) renderRows($("my-subscriptions"), [...$("my-subscriptions").children].map((r) => (r === old ? li : r)));
  else $("my-subscriptions").prepend(li);
  if ($("browse-result").dataset.sub === s.id) $("browse-result").textContent = t("sub.result", { title: await titleOf(s.product_id), state: state(s.state) });
}

let subsSeq = 0;
async function loadSubscriptions() {
  const seq = ++subsSeq;
  try {
    const list = await moa.call("subscription.mine", {});
    const items = await Promise.all(list.items.map(subscriptionItem));
    if (seq !== subsSeq) return; // a newer load finished first
    renderRows($("my-subscriptions"), items);
    for (const s of list.items) if (!settled(s.state)) watch(s.id);
    for (const s of list.items) if ($("browse-result").dataset.sub === s.id) $("browse-result").textContent = t("sub.result", { title: await titleOf(s.product_id), state: state(s.state) });
  } catch (e) { showError("subscriptions-result", e); }
}

// The dev mailbox (moa dev): the mails the notify service would have sent to this user.
async function loadMail() {
  if (!config.dev_mailbox || !me()) return;
  try {
    const box = await moa.call("notify.dev_mailbox", { to: me().email, limit: 20 });
    $("mails").replaceChildren(...box.items.map((m) => el("li", {}, el("div", { className: "title", textContent: m.subject }),
      el("div", { textContent: m.body }), el("div", { className: "meta", textContent: t("mail.to", { to: m.to, status: m.status }) }))));
  } catch (e) { console.warn("mailbox:", e); }
}
$("refresh-mail").addEventListener("click", () => loadMail());
$("refresh-dashboard").addEventListener("click", () => loadDashboard());


// ---- seller: my products ----

let mine = { next: "" }; // the keyset cursor after the pages of my products shown

function myProductItem(p) {
  titles.set(p.id, p.title);
  const li = el("li", { className: "my-product" }, el("button", { className: "link open-product", textContent: p.title, onclick: () => openProduct(p.id) }),
    el("span", { className: "meta", textContent: t("mine.meta", { price: money(p.price_amount, p.currency), period: per(p.billing_period), taken: p.seats_taken, capacity: p.capacity }) }),
    el("button", { className: "secondary edit", textContent: t("edit"), ariaLabel: t("edit.of", { title: p.title }), onclick: () => editProduct(p.id) }));
  li.dataset.id = p.id;
  return li;
}

// loadMyProducts shows the first page of the seller's products; more appends the next one.
async function loadMyProducts(more = false) {
  if (more && !mine.next) return;
  const m = more ? mine : { next: "" };
  mine = m;
  if (!more) $("my-products-more").hidden = true;
  try {
    const page = await moa.call("catalog.my_products", { limit: 20, ...(more ? { cursor: m.next } : {}) });
    if (mine !== m) return;
    m.next = page.next_cursor || "";
    const items = page.items.map(myProductItem);
    if (more) $("my-products").append(...items); else renderRows($("my-products"), items);
    $("my-products-more").hidden = !m.next;
    if (more && items.length) items[0].querySelector("button").focus();
  } catch (e) { showError("my-products-result", e); }
}
$("my-products-more").addEventListener("click", () => loadMyProducts(true));

// ---- seller: the dashboard's chart over time ----

const CHART_DAYS = 30; // the service keeps the last 30 days (UTC)
const SVGNS = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}, ...children) => {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
};

// chartDays fills the window: the service lists only the days that had a fact, so a quiet day
// repeats the active count of the day before and has no revenue. Before the first listed day
// the count is what that day started with.
function chartDays(x) {
  const listed = new Map((x.days || []).map((d) => [d.day, d]));
  const first = (x.days || [])[0];
  let active = first ? first.active_subscribers - first.subscribed + first.churned : x.active_subscribers;
  const now = new Date();
  const out = [];
  for (let i = CHART_DAYS - 1; i >= 0; i--) {
    const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - i)).toISOString().slice(0, 10);
    const d = listed.get(day);
    if (d) active = d.active_subscribers;
    out.push({ day, active, net: d ? d.charged_minor - d.refunded_minor : 0 });
  }
  return out;
}

// dashChart draws a product's last 30 days: a bar per day for the revenue (charged minus
// refunded, below the axis when refunds outweigh charges) and a line for the active
// subscribers at each day's end. The SVG is one labelled image; the table under it gives the
// figures of each day that had any, for screen readers and for anyone who wants the numbers.
function dashChart(x, title) {
  const cur = x.currency || "KRW";
  const days = chartDays(x);
  const W = 300, H = 100, bw = W / days.length;
  const maxRev = Math.max(1, ...days.map((d) => Math.abs(d.net)));
  const neg = days.some((d) => d.net < 0);
  const zero = neg ? H / 2 : H - 4, span = neg ? H / 2 - 4 : H - 8;
  const maxActive = Math.max(1, ...days.map((d) => d.active));
  // Styled here rather than in style.css, so the chart is self-contained; through the CSSOM
  // (cssText), which the page's CSP allows where a style attribute would be refused.
  const svg = svgEl("svg", { class: "dash-chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  svg.style.cssText = "display:block;width:100%;height:5rem;background:#fafbfd;border:1px solid #eceef3;border-radius:4px";
  const total = days.reduce((a, d) => a + d.net, 0);
  svg.setAttribute("aria-label", t("chart.label", { title, days: CHART_DAYS, active: x.active_subscribers, revenue: money(total, cur) }));
  days.forEach((d, i) => {
    if (!d.net) return;
    const h = Math.max(1, (Math.abs(d.net) / maxRev) * span);
    svg.append(svgEl("rect", { class: d.net < 0 ? "refund" : "revenue", fill: d.net < 0 ? "#f0b9b9" : "#b9cdf3",
      x: i * bw + 1, width: bw - 2, y: d.net < 0 ? zero : zero - h, height: h }));
  });
  svg.append(svgEl("line", { class: "axis", x1: 0, x2: W, y1: zero, y2: zero, stroke: "#ccd0da", "vector-effect": "non-scaling-stroke" }));
  const pts = days.map((d, i) => `${i * bw + bw / 2},${H - 4 - (d.active / maxActive) * (H - 8)}`).join(" ");
  svg.append(svgEl("polyline", { class: "active", points: pts, fill: "none", stroke: "#1a8f4a", "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
  const head = ["day", "new", "churned", "failed", "charged", "refunded", "active"].map((k) => t("chart.col." + k));
  const table = el("table", { className: "dash-days", style: "font-size:.8rem;border-collapse:collapse" },
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", textContent: h })))),
    el("tbody", {}, ...(x.days || []).map((d) => el("tr", { className: "dash-day" }, el("th", { scope: "row", textContent: d.day }),
      ...[d.subscribed, d.churned, d.failed, money(d.charged_minor, cur), money(d.refunded_minor, cur), d.active_subscribers]
        .map((v) => el("td", { textContent: String(v), style: "padding:0 .4rem;text-align:right" }))))));
  return el("figure", { className: "dash-figure", style: "margin:.4rem 0 0" }, svg,
    el("figcaption", { className: "meta", textContent: t("chart.caption", { days: CHART_DAYS }) }),
    el("details", {}, el("summary", { textContent: t("chart.figures") }),
      // The table scrolls sideways inside its box on a narrow screen, rather than squeezing its
      // headings and amounts into broken pieces.
      x.days && x.days.length ? el("div", { className: "table-scroll" }, table) : el("p", { className: "meta", textContent: t("chart.none") })));
}

let dashSeq = 0;
async function loadDashboard() {
  const seq = ++dashSeq;
  try {
    const d = await moa.call("subscription.dashboard", {});
    const rows = await Promise.all(d.items.map(async (x) => {
      const title = await titleOf(x.product_id);
      const li = el("li", {}, el("strong", { textContent: title }), " ",
        el("span", { textContent: t("dash.row", { active: x.active_subscribers, revenue: money(x.revenue_minor, x.currency || "KRW"), churned: x.churned, failed: x.failed }) }),
        dashChart(x, title));
      li.dataset.product = x.product_id;
      li.dataset.id = x.product_id;
      return li;
    }));
    if (seq !== dashSeq) return; // a newer load finished first
    renderRows($("dashboard"), rows);
  } catch (e) { console.warn("dashboard:", e); }
}

$("product-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearInvalid("product-form");
  $("publish-result").textContent = "";
  const tags = $("p-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  try {
    const p = await moa.call("catalog.create_product", {
      title: $("p-title").value, description: $("p-description").value, price_amount: Number($("p-price").value),
      currency: $("p-currency").value.toUpperCase(), billing_period: $("p-period").value, terms: $("p-terms").value,
      capacity: Number($("p-capacity").value), tags });
    $("publish-result").textContent = t("published", { title: p.title });
    loadMyProducts();
    loadProducts();
  } catch (e) { showError("publish-result", e, PRODUCT_FIELDS); }
});

// ---- search history ----

// Recent searches are the signed-in user's (removable); popular ones are everyone's. The
// search service learns of a search from the catalog's event, a moment after it ran.
// Loads may overlap (every focus of the search box starts one): only the newest one shows,
// and it marks #recent-box with data-loaded = its number once its recent searches are shown.
let historySeq = 0;
async function loadSearchHistory() {
  const seq = ++historySeq;
  try {
    const pop = await moa.call("search.popular", { limit: 10 });
    if (seq !== historySeq) return;
    $("popular-searches").replaceChildren(...pop.items.map((x) => el("li", {},
      el("button", { className: "chip", textContent: x.query, title: t("searched.times", { n: x.count }), onclick: () => searchFor(x.query) }))));
    $("popular-box").hidden = !pop.items.length;
  } catch (e) { console.warn("popular:", e); }
  if (!me()) { $("recent-box").hidden = true; $("recent-box").dataset.loaded = String(seq); return; }
  try {
    const rec = await moa.call("search.recent", { limit: 10 });
    if (seq !== historySeq) return;
    $("recent-searches").replaceChildren(...rec.items.map((x) => {
      const remove = el("button", { className: "chip-remove secondary", textContent: "×", onclick: () => removeRecent(x.query) });
      remove.setAttribute("aria-label", t("recent.remove", { query: x.query }));
      const li = el("li", {}, el("button", { className: "chip", textContent: x.query, onclick: () => searchFor(x.query) }), remove);
      li.dataset.query = x.query;
      li.dataset.at = x.at;
      return li;
    }));
    $("recent-box").hidden = !rec.items.length;
    $("recent-box").dataset.loaded = String(seq);
  } catch (e) { console.warn("recent:", e); }
}

// Focusing the search box brings the history up to date (others' searches make popular ones).
$("q").addEventListener("focus", () => loadSearchHistory());

function searchFor(q) { $("q").value = q; loadProducts(q); }

async function removeRecent(query) {
  try { await moa.call("search.delete_recent", { query }); } catch (e) { showError("browse-result", e); }
  loadSearchHistory();
  $("q").focus();
}
$("clear-recent").addEventListener("click", async () => {
  try { await moa.call("search.clear_recent", {}); } catch (e) { showError("browse-result", e); }
  loadSearchHistory();
  $("q").focus();
});

// Suggestions as you type: the user's recent matches first, then popular ones, in the
// input's datalist (the browser shows it and lets the arrow keys pick). Answers that come
// back after a newer keystroke are dropped.
let suggestSeq = 0;
let suggestTimer = null;
$("q").addEventListener("input", () => {
  clearTimeout(suggestTimer);
  const prefix = $("q").value;
  if (!prefix.trim()) { $("suggestions").replaceChildren(); return; }
  suggestTimer = setTimeout(async () => {
    const seq = ++suggestSeq;
    try {
      const s = await moa.call("search.suggest", { prefix, limit: 8 });
      if (seq !== suggestSeq) return;
      $("suggestions").replaceChildren(...s.items.map((x) => {
        const o = el("option", { value: x.query });
        o.dataset.source = x.source;
        return o;
      }));
    } catch (e) { console.warn("suggest:", e); }
  }, 150);
});

// ---- seller: edit and delete ----

let editing = null; // the product as it was when the form opened
let editSeq = 0; // the newest Edit press: an older one's answer arriving late fills nothing

// stillEditing reports whether the form still shows product p: after an await, the user may
// have pressed Edit on another product (or Cancel), and the answer must not land in that form.
const stillEditing = (p) => editing === p && $("edit-form").dataset.id === p.id;

async function editProduct(id) {
  // Hidden while the product loads: a press of Save or Delete meanwhile would act on the
  // product the form showed before.
  const seq = ++editSeq;
  $("edit-form").hidden = true;
  editing = null;
  delete $("edit-form").dataset.id;
  disarmDelete();
  $("edit-result").textContent = "";
  $("terms-preview").textContent = "";
  clearInvalid("edit-form");
  try {
    const p = await moa.call("catalog.get_product", { id });
    if (seq !== editSeq) return; // another Edit (or Cancel) came after this one
    editing = p;
    $("edit-title").textContent = `“${p.title}”`;
    $("e-title").value = p.title;
    $("e-description").value = p.description || "";
    $("e-price").value = String(p.price_amount);
    $("e-currency").value = p.currency;
    $("e-period").value = p.billing_period;
    $("e-capacity").value = String(p.capacity);
    $("e-terms").value = p.terms;
    $("e-terms-version").textContent = t("version", { v: p.terms_version });
    $("e-tags").value = (p.tags || []).join(", ");
    $("edit-form").hidden = false;
    $("edit-form").dataset.id = p.id;
    $("e-title").focus();
  } catch (e) { if (seq === editSeq) showError("my-products-result", e); }
}

// A changed terms text mails every active subscriber: say to how many before saving.
let previewTimer = null;
$("e-terms").addEventListener("input", () => {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(async () => {
    const p = editing;
    if (!p || $("e-terms").value.trim() === p.terms) { $("terms-preview").textContent = ""; return; }
    try {
      const s = await moa.call("subscription.subscribers", { product_id: p.id });
      if (!stillEditing(p)) return;
      const n = s.consumer_ids.length;
      $("terms-preview").textContent = t("terms.preview", { n });
      $("terms-preview").dataset.subscribers = String(n);
    } catch (e) { if (stillEditing(p)) $("terms-preview").textContent = t("terms.preview.failed", { code: e.code }); }
  }, 300);
});

const EDIT_FIELDS = { title: "e-title", description: "e-description", price_amount: "e-price", currency: "e-currency",
  billing_period: "e-period", terms: "e-terms", capacity: "e-capacity", tags: "e-tags" };

$("edit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  disarmDelete();
  if (!editing) return;
  clearInvalid("edit-form");
  $("edit-result").textContent = "";
  const p = editing;
  const next = { title: $("e-title").value.trim(), description: $("e-description").value.trim(), price_amount: Number($("e-price").value),
    currency: $("e-currency").value.trim().toUpperCase(), billing_period: $("e-period").value, capacity: Number($("e-capacity").value),
    terms: $("e-terms").value.trim(), tags: $("e-tags").value.split(",").map((t) => t.trim().toLowerCase()).filter(Boolean) };
  // Only the fields that changed, at the version the form was filled from: a concurrent
  // edit fails with conflict instead of being overwritten.
  const patch = { id: p.id, expected_version: p.version };
  for (const [k, v] of Object.entries(next)) {
    const was = k === "tags" ? (p.tags || []).join(",") : p[k] ?? "";
    if ((k === "tags" ? v.join(",") : v) !== was) patch[k] = v;
  }
  if (Object.keys(patch).length === 2) { $("edit-result").textContent = t("nothing.changed"); return; }
  try {
    const saved = await moa.call("catalog.update_product", patch);
    titles.set(saved.id, saved.title);
    loadMyProducts();
    refreshProducts();
    if (shown && shown.id === saved.id) showProduct(saved);
    // The form is p's only if the user did not open another product (or cancel) meanwhile:
    // otherwise p's saved values must not become the other product's "as loaded" state.
    if (!stillEditing(p)) { $("my-products-result").textContent = t("saved", { title: saved.title }); return; }
    editing = saved;
    $("edit-result").textContent = t("saved.version", { title: saved.title, v: saved.version, tv: saved.terms_version });
    $("e-terms-version").textContent = t("version", { v: saved.terms_version });
    $("terms-preview").textContent = "";
  } catch (e) {
    if (stillEditing(p)) showError("edit-result", e, EDIT_FIELDS);
    else showError("my-products-result", e);
  }
});
$("cancel-edit").addEventListener("click", () => {
  editSeq++; // an Edit still loading must not reopen the form
  editing = null;
  delete $("edit-form").dataset.id;
  disarmDelete();
  $("edit-form").hidden = true;
});

// Delete asks twice (a second press of the same button), without a modal dialog. The armed
// state ends after a few seconds, on any edit of the form and on Save, so a press much later
// (or after changing one's mind) asks again.
let disarmTimer = null;
function disarmDelete() {
  clearTimeout(disarmTimer);
  const btn = $("delete-product");
  if (btn.textContent === t("delete.confirm")) {
    btn.textContent = t("delete");
    if ($("edit-result").textContent === t("delete.again")) $("edit-result").textContent = "";
  }
}
$("edit-form").addEventListener("input", disarmDelete);

// Delete asks twice (a second press of the same button), without a modal dialog.
$("delete-product").addEventListener("click", async () => {
  const p = editing;
  if (!p) return;
  const btn = $("delete-product");
  if (btn.textContent !== t("delete.confirm")) {
    btn.textContent = t("delete.confirm");
    $("edit-result").textContent = t("delete.again");
    clearTimeout(disarmTimer);
    disarmTimer = setTimeout(disarmDelete, 5000);
    return;
  }
  clearTimeout(disarmTimer);
  btn.textContent = t("delete");
  try {
    await moa.call("catalog.delete_product", { id: p.id });
    $("my-products-result").textContent = t("deleted", { title: p.title });
    if (shown && shown.id === p.id) closeProduct();
    if (stillEditing(p)) {
      editing = null;
      delete $("edit-form").dataset.id;
      $("edit-form").hidden = true;
    }
    loadMyProducts();
    refreshProducts();
  } catch (e) { if (stillEditing(p)) showError("edit-result", e); else showError("my-products-result", e); }
});

// ---- chat ----

let current = null; // {room, oldest, seen: Set of message ids}
let typingTimer = null;
let lastTyping = 0;

async function loadRooms() {
  try {
    const list = await moa.call("chat.rooms", { limit: 50 });
    $("rooms").replaceChildren(...list.items.map((s) => {
      const li = el("li", { className: "room" + (current && current.room.id === s.room.id ? " active" : ""),
        textContent: s.room.product_title, onclick: () => openRoom(s.room) });
      li.dataset.room = s.room.id;
      if (s.unread) li.append(" ", el("span", { className: "badge", textContent: String(s.unread) }));
      return li;
    }));
    const u = await moa.call("chat.unread", {});
    $("unread").hidden = !u.total;
    $("unread").textContent = String(u.total);
  } catch (e) { console.warn("rooms:", e); }
}

async function chatAbout(p) {
  try { openRoom(await moa.call("chat.open_room", { product_id: p.id })); } catch (e) { showError("browse-result", e); }
}

function messageItem(m) {
  const li = el("li", { className: "msg" + (m.sender_id === me().id ? " mine" : ""), textContent: m.text });
  li.dataset.id = m.id;
  li.dataset.sentAt = m.sent_at;
  return li;
}

function addMessage(m, atTop = false) {
  if (!current || m.room_id !== current.room.id || current.seen.has(m.id)) return;
  current.seen.add(m.id);
  const box = $("messages");
  if (atTop) box.prepend(messageItem(m)); else { box.append(messageItem(m)); box.scrollTop = box.scrollHeight; }
}

async function openRoom(room) {
  if (current && current.room.id !== room.id) moa.leaveRoom(current.room.id).catch(() => {});
  current = { room, oldest: null, seen: new Set() };
  $("room").hidden = false;
  $("room-title").textContent = room.product_title;
  $("messages").replaceChildren();
  $("typing").textContent = "";
  $("presence").textContent = "";
  $("presence").className = "presence";
  $("presence").hidden = me().id === room.seller_id; // only the consumer sees the seller's state
  const sub = await moa.joinRoom(room.id);
  if (sub.presence) showPresence(sub.presence);
  await loadHistory();
  loadRooms();
}

async function loadHistory() {
  const page = await moa.call("chat.history", { room_id: current.room.id, limit: 20, ...(current.oldest ? { before: current.oldest } : {}) });
  for (const m of page.items) addMessage(m, true); // newest first: each goes above the last
  if (page.items.length) current.oldest = page.items[page.items.length - 1].id;
  $("older").hidden = !page.has_more;
  markRead();
}
$("older").addEventListener("click", () => loadHistory());

async function markRead() {
  const last = [...$("messages").children].reverse().find((li) => !li.classList.contains("mine"));
  if (!current || !last) return;
  try { await moa.call("chat.mark_read", { room_id: current.room.id, up_to_message_id: last.dataset.id }); loadRooms(); } catch { /* a hint only */ }
}

$("send-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("msg").value.trim();
  if (!text || !current) return;
  $("msg").value = "";
  try {
    const ack = await moa.call("chat.send", { room_id: current.room.id, text, client_msg_id: crypto.randomUUID() });
    addMessage({ id: ack.message_id, room_id: ack.room_id, sender_id: me().id, text, sent_at: ack.sent_at });
  } catch (e) { $("typing").textContent = e.code + ": " + e.message; }
});
$("msg").addEventListener("input", () => {
  if (current && Date.now() - lastTyping > 1000) { lastTyping = Date.now(); moa.typing(current.room.id); }
});

function showPresence(p) {
  if (!current || p.user_id !== current.room.seller_id) return;
  $("presence").textContent = p.online ? t("online") : t("offline");
  $("presence").className = "presence" + (p.online ? " online" : "");
}

moa.on("chat.message", (m) => {
  if (current && m.room_id === current.room.id) { addMessage(m); if (m.sender_id !== me().id) markRead(); }
  loadRooms();
});
moa.on("chat.read", (r) => {
  if (!current || r.room_id !== current.room.id || r.reader_id === me().id) return;
  for (const li of $("messages").querySelectorAll(".msg.mine")) {
    if (new Date(li.dataset.sentAt) <= new Date(r.up_to_sent_at) && !li.querySelector(".seen")) li.append(el("span", { className: "seen", textContent: t("seen") }));
  }
});
moa.on("chat.typing", (ev) => {
  if (!current || ev.room_id !== current.room.id) return;
  $("typing").textContent = t("typing");
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 3000);
});
moa.on("presence", showPresence);

// ---- notifications ----

moa.on("notification", (n) => {
  const li = el("li", { className: "notification" }, el("div", { className: "title", textContent: n.title }),
    el("div", { textContent: n.body }), el("div", { className: "meta", textContent: `#${n.seq} · ${new Date(n.created_at).toLocaleString(locale())}` }));
  li.dataset.seq = String(n.seq);
  $("notifications").prepend(li);
  // A notification usually means a subscription changed, and mail may have gone out.
  if (me() && me().role === "consumer") loadSubscriptions();
  refreshProducts();
  refreshProduct();
  // The dashboard is a projection that may catch up a moment after the notification.
  if (me() && me().role === "seller") { loadDashboard(); setTimeout(loadDashboard, 1500); }
  setTimeout(loadMail, 500);
});
moa.on("resync", () => { $("resync-banner").hidden = false; });

// ---- start ----

fetch("config.json").then((r) => r.json()).then((c) => {
  config = c;
  if (c.mailbox_url) { $("mailbox-external").hidden = false; $("mailbox-link").href = c.mailbox_url; }
  if (me()) render();
}).catch(() => {});

// The browser's session (signed in in another tab, or before a reload) is picked up before
// connecting, so the connection starts as that user.
session.restore().catch((e) => console.warn("session:", e)).then(() => moa.connect()).catch((e) => {
  showStatus("status.cannot", { msg: e.message });
});
