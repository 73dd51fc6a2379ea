// The Moa demo page: everything goes through one WebSocket to the edge, with the SDK.
import { MoaClient, MoaError } from "../sdk/moa.js";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};

// The session (access and refresh token) lives in sessionStorage: one per browser tab.
const SESSION = "moa.session";
let session = JSON.parse(sessionStorage.getItem(SESSION) || "null");
const saveSession = (s) => { session = s; s ? sessionStorage.setItem(SESSION, JSON.stringify(s)) : sessionStorage.removeItem(SESSION); };
const me = () => (session ? session.user : null);
let config = {}; // /config.json: mailbox_url, dev_mailbox

const moa = new MoaClient({
  token: () => (session ? session.access_token : null),
  refresh: renewSession,
  // No storageKey: every page load catches up from the first notification the service
  // still holds, so a reload shows the recent ones again.
});

// renewSession exchanges the refresh token for a new pair; over the open socket when there is
// one, else over a short anonymous connection.
async function renewSession() {
  if (!session) throw new MoaError({ code: "unauthenticated", message: "not signed in" });
  let via = moa;
  if (!moa._isOpen()) {
    via = new MoaClient({ url: moa.url, reconnect: false });
  }
  try {
    const s = await via.call("auth.refresh", { refresh_token: session.refresh_token });
    saveSession(s);
    return s.access_token;
  } finally {
    if (via !== moa) via.close();
  }
}

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
  try { return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(currency === "KRW" || currency === "JPY" ? amount : amount / 100); }
  catch { return `${amount} ${currency}`; }
};

// ---- connection and identity ----

moa.on("open", () => { $("status").textContent = "connected"; $("status").className = "status online"; });
moa.on("close", (e) => { $("status").textContent = `disconnected (${e.code}${e.reason ? " " + e.reason : ""})`; $("status").className = "status"; });
moa.on("reconnecting", (e) => { $("status").textContent = `reconnecting in ${Math.round(e.in_ms)} ms…`; });
moa.on("authenticated", () => render());

function render() {
  const u = me();
  $("whoami").textContent = u ? `${u.display_name} (${u.role})` : "not signed in";
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
    if (u.role === "seller") { loadMyProducts(); loadDashboard(); } else loadSubscriptions();
    loadMail();
  }
  loadProducts();
}

async function signIn(email, password) {
  const s = await moa.call("auth.login", { email, password });
  saveSession(s);
  await moa.authenticate(s.access_token);
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
  try { await moa.call("auth.logout", { refresh_token: session.refresh_token }); } catch { /* signed out anyway */ }
  saveSession(null);
  location.reload();
});

// ---- catalog ----

function productItem(p) {
  const li = el("li", { className: "product" }, el("strong", { textContent: p.title }), " ",
    el("span", { className: "meta", textContent: `${money(p.price_amount, p.currency)} / ${p.billing_period} · ${p.seats_taken}/${p.capacity} seats` }));
  li.dataset.id = p.id;
  const u = me();
  if (u && u.role === "consumer") {
    li.append(el("button", { className: "subscribe", textContent: "Subscribe", onclick: () => subscribe(p) }),
      el("button", { className: "chat-seller secondary", textContent: "Chat with seller", onclick: () => chatAbout(p) }));
  }
  return li;
}

// loadProducts shows the catalog (or a search); keep leaves the last message in place (a
// refresh the user did not ask for).
async function loadProducts(query, keep = false) {
  if (!keep) $("browse-result").textContent = "";
  try {
    const page = query ? await moa.call("catalog.search_products", { query, limit: 20 })
      : await moa.call("catalog.list_products", { limit: 20 });
    $("products").replaceChildren(...page.items.map(productItem));
    if (!page.items.length) $("browse-result").textContent = query ? "Nothing found." : "No products yet.";
  } catch (e) { showError("browse-result", e); }
}
$("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadProducts($("q").value.trim()); });
$("refresh-products").addEventListener("click", () => { $("q").value = ""; loadProducts(); });

// Subscribing starts a saga (seat, payment); its outcome arrives as a notification.
async function subscribe(p) {
  try {
    const s = await moa.call("subscription.subscribe", { product_id: p.id, idempotency_key: crypto.randomUUID() });
    $("browse-result").textContent = `Subscription to ${p.title}: ${s.state}.`;
    loadSubscriptions();
  } catch (e) { showError("browse-result", e); }
}

async function loadSubscriptions() {
  try {
    const list = await moa.call("subscription.mine", {});
    $("my-subscriptions").replaceChildren(...list.items.map((s) => {
      const li = el("li", {}, el("strong", { textContent: s.state }), " ",
        el("span", { className: "meta", textContent: `${money(s.price_minor, s.currency)} / ${s.billing_period}${s.reason ? " · " + s.reason : ""}` }));
      li.dataset.id = s.id;
      if (s.state === "ACTIVE") {
        li.append(el("button", { className: "secondary", textContent: "Cancel", onclick: async () => {
          try { await moa.call("subscription.cancel", { id: s.id }); loadSubscriptions(); } catch (e) { showError("subscriptions-result", e); }
        } }));
      }
      return li;
    }));
  } catch (e) { showError("subscriptions-result", e); }
}

async function loadDashboard() {
  try {
    const d = await moa.call("subscription.dashboard", {});
    $("dashboard").replaceChildren(...d.items.map((x) => el("li", { textContent:
      `${x.product_id.slice(0, 8)}…: ${x.active_subscribers} active · ${money(x.revenue_minor, x.currency || "KRW")} revenue · ${x.churned} churned · ${x.failed} failed` })));
  } catch (e) { console.warn("dashboard:", e); }
}

// The dev mailbox (moa dev): the mails the notify service would have sent to this user.
async function loadMail() {
  if (!config.dev_mailbox || !me()) return;
  try {
    const box = await moa.call("notify.dev_mailbox", { to: me().email, limit: 20 });
    $("mails").replaceChildren(...box.items.map((m) => el("li", {}, el("div", { className: "title", textContent: m.subject }),
      el("div", { textContent: m.body }), el("div", { className: "meta", textContent: `to ${m.to} · ${m.status}` }))));
  } catch (e) { console.warn("mailbox:", e); }
}
$("refresh-mail").addEventListener("click", () => loadMail());
$("refresh-dashboard").addEventListener("click", () => loadDashboard());

async function loadMyProducts() {
  try {
    const page = await moa.call("catalog.my_products", { limit: 20 });
    $("my-products").replaceChildren(...page.items.map((p) => el("li", { textContent: `${p.title} — ${money(p.price_amount, p.currency)}` })));
  } catch (e) { showError("publish-result", e); }
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
    $("publish-result").textContent = `Published “${p.title}”.`;
    loadMyProducts();
    loadProducts();
  } catch (e) { showError("publish-result", e, PRODUCT_FIELDS); }
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
  $("presence").textContent = p.online ? "online" : "offline";
  $("presence").className = "presence" + (p.online ? " online" : "");
}

moa.on("chat.message", (m) => {
  if (current && m.room_id === current.room.id) { addMessage(m); if (m.sender_id !== me().id) markRead(); }
  loadRooms();
});
moa.on("chat.read", (r) => {
  if (!current || r.room_id !== current.room.id || r.reader_id === me().id) return;
  for (const li of $("messages").querySelectorAll(".msg.mine")) {
    if (new Date(li.dataset.sentAt) <= new Date(r.up_to_sent_at) && !li.querySelector(".seen")) li.append(el("span", { className: "seen", textContent: "✓ seen" }));
  }
});
moa.on("chat.typing", (t) => {
  if (!current || t.room_id !== current.room.id) return;
  $("typing").textContent = "typing…";
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 3000);
});
moa.on("presence", showPresence);

// ---- notifications ----

moa.on("notification", (n) => {
  const li = el("li", { className: "notification" }, el("div", { className: "title", textContent: n.title }),
    el("div", { textContent: n.body }), el("div", { className: "meta", textContent: `#${n.seq} · ${new Date(n.created_at).toLocaleString()}` }));
  li.dataset.seq = String(n.seq);
  $("notifications").prepend(li);
  // A notification usually means a subscription changed, and mail may have gone out.
  if (me() && me().role === "consumer") { loadSubscriptions(); loadProducts($("q").value.trim(), true); }
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

moa.connect().catch((e) => {
  // A stored session that cannot be used any more: start over signed out.
  if (session) { saveSession(null); location.reload(); } else $("status").textContent = "cannot connect: " + e.message;
});
