// moa.js — the JavaScript client SDK of the Moa edge (protocol v1, docs/protocol.md).
// A plain ES module with no dependencies: import it from /sdk/moa.js.
//
//   import { MoaClient } from "/sdk/moa.js";
//   const moa = new MoaClient({ url: "wss://shop.example.com/ws", token: () => session.accessToken,
//                               refresh: async () => (await renew()).accessToken });
//   moa.on("notification", n => show(n));      // in sequence, without gaps or repeats
//   moa.on("chat.message", m => append(m));
//   await moa.connect();
//   const product = await moa.call("catalog.get_product", { id });
//
// What the SDK takes care of: correlating answers with requests; signing in within the auth
// deadline; refreshing the access token when the edge says it is expiring; reconnecting with
// backoff (and rejoining rooms); and keeping notifications in order: it remembers the last
// sequence it delivered, and on reconnect or on a gap it asks the edge for what it missed. If
// the edge answers that the missed part is not recoverable, it emits "resync": reload.

export const PROTOCOL_VERSION = 1;

// Close codes (docs/protocol.md).
export const Close = Object.freeze({
  NORMAL: 1000, GOING_AWAY: 1001, UNSUPPORTED: 1003, INVALID_PAYLOAD: 1007, TOO_BIG: 1009, INTERNAL: 1011,
  AUTH: 4401, SLOW_CONSUMER: 4408, TOO_MANY_CONNECTIONS: 4409, RATE_LIMITED: 4429,
});

// MoaError is a failed call: code is the stable error code (see contracts/errors.go).
export class MoaError extends Error {
  constructor(e) {
    super(e && e.message ? e.message : "error");
    this.name = "MoaError";
    this.code = (e && e.code) || "internal";
    this.kind = (e && e.kind) || "internal";
    this.field = (e && e.field) || undefined;
  }
  get retryable() { return this.kind === "unavailable" || this.kind === "timeout"; }
}

export class MoaClient {
  // options:
  //   url          WebSocket URL of the edge (default: /ws on the page's host)
  //   token        () => access token, or null/"" for an anonymous session (may be async)
  //   refresh      async () => a fresh access token, when the edge warns of expiry (optional)
  //   lastSeq      the last notification sequence this user has seen (null: never; default
  //                read from storage when storageKey is given)
  //   storageKey   a localStorage key to remember lastSeq under (optional)
  //   reconnect    reconnect after an unexpected close (default true)
  //   callTimeout  ms before an unanswered call fails with "deadline_exceeded" (default 20000)
  //   WebSocket    the WebSocket constructor (default globalThis.WebSocket)
  constructor(options = {}) {
    this.opts = Object.assign({ reconnect: true, callTimeout: 20000 }, options);
    this.WS = this.opts.WebSocket || globalThis.WebSocket;
    this.url = this.opts.url || defaultURL();
    this.handlers = new Map();
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.nextId = 1;
    this.rooms = new Set();
    this.lastSeq = this.opts.lastSeq !== undefined ? this.opts.lastSeq : this._loadSeq();
    this.resuming = null; // the running resume, if any
    this.held = []; // notifications received during a resume or after a gap
    this.fruitless = 0; // resumes in a row that did not close a gap
    this.user = null;
    this.ws = null;
    this.closedByUser = false;
    this.attempt = 0;
    this.ready = null;
  }

  // on(type, fn) listens to: "open", "authenticated", "notification", "resync", "event" (every
  // push), and each push topic ("chat.message", "chat.read", "chat.typing", "presence"), plus
  // "expiring", "close", "reconnecting", "error". It returns a function that stops listening.
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  emit(type, detail) {
    for (const fn of this.handlers.get(type) || []) {
      try { fn(detail); } catch (e) { console.error("moa: handler for", type, "failed:", e); }
    }
  }

  // connect opens the connection and signs in; it resolves with the session (user or
  // anonymous) once the edge accepted it.
  connect() {
    this.closedByUser = false;
    if (!this.ready) this.ready = this._open();
    return this.ready;
  }

  close() {
    this.closedByUser = true;
    if (this.ws) this.ws.close(Close.NORMAL, "bye");
  }

  // authenticate switches an open (anonymous) session to a user, e.g. right after signing in
  // over it; later reconnects use options.token.
  async authenticate(token) {
    const ok = await this._send({ type: "auth", token });
    this.user = ok.body.user;
    this.emit("authenticated", ok.body);
    await this._resumeNow();
    return ok.body;
  }

  // call invokes an allowlisted method ("catalog.get_product") and resolves with its answer.
  async call(method, body = {}) {
    await this.connect();
    const f = await this._send({ type: "req", method, body });
    return f.body;
  }

  // joinRoom listens to a chat room's typing signals (and, for its consumer, the seller's
  // presence); it resolves with {room, presence}.
  async joinRoom(roomId) {
    await this.connect();
    const f = await this._send({ type: "subscribe", topic: "room:" + roomId });
    this.rooms.add(roomId);
    if (f.body && f.body.presence) this.emit("presence", f.body.presence);
    return f.body;
  }

  async leaveRoom(roomId) {
    this.rooms.delete(roomId);
    if (this._isOpen()) await this._send({ type: "unsubscribe", topic: "room:" + roomId });
  }

  // typing tells the room's other member that this user is typing (ephemeral; the edge
  // passes on at most one per second).
  typing(roomId) {
    if (this._isOpen()) this._write({ v: PROTOCOL_VERSION, type: "typing", room: roomId });
  }

  // resume asks for the notifications after lastSeq now (the SDK does it by itself on connect
  // and on gaps).
  resume() { return this._resumeNow(); }

  // ---- internals ----

  _isOpen() { return this.ws && this.ws.readyState === 1; }

  _open() {
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new this.WS(this.url);
      this.ws = ws;
      ws.onmessage = (ev) => this._onFrame(ev.data);
      ws.onerror = () => this.emit("error", new MoaError({ code: "unavailable", kind: "unavailable", message: "connection error" }));
      ws.onclose = (ev) => {
        this._failPending(new MoaError({ code: "unavailable", kind: "unavailable", message: "connection closed" }));
        this.ready = null;
        this.emit("close", { code: ev.code, reason: ev.reason });
        if (!settled) { settled = true; reject(new MoaError({ code: ev.reason || "unavailable", kind: "unavailable", message: "closed before signing in (" + ev.code + ")" })); }
        this._maybeReconnect(ev.code, ev.reason);
      };
      this.onHello = async () => {
        try {
          const token = this.opts.token ? await this.opts.token() : null;
          const ok = await this._send(token ? { type: "auth", token } : { type: "auth", anonymous: true });
          this.user = ok.body.user || null;
          this.attempt = 0;
          settled = true;
          resolve(ok.body);
          this.emit("authenticated", ok.body);
          for (const room of this.rooms) this._send({ type: "subscribe", topic: "room:" + room }).catch(() => this.rooms.delete(room));
          if (this.user) this._resumeNow().catch((e) => this.emit("error", e));
        } catch (e) {
          if (!settled) { settled = true; reject(e); }
          ws.close(Close.NORMAL, "sign-in failed");
        }
      };
    });
  }

  _maybeReconnect(code, reason) {
    if (this.closedByUser || !this.opts.reconnect) return;
    // Refused for good: a capped user, or a token that cannot be renewed.
    if (code === Close.TOO_MANY_CONNECTIONS) return;
    if (code === Close.AUTH && reason !== "token_expired" && reason !== "auth_timeout") return;
    const base = code === Close.GOING_AWAY ? 100 : Math.min(30000, 500 * 2 ** this.attempt);
    const delay = base / 2 + Math.random() * base / 2;
    this.attempt++;
    this.emit("reconnecting", { in_ms: delay, code });
    setTimeout(async () => {
      if (this.closedByUser) return;
      if (code === Close.AUTH && this.opts.refresh) {
        try { await this.opts.refresh(); } catch (e) {
          this.emit("error", e);
          // The session endpoint not answering (the edge restarting, a network blip) is no
          // reason to give up: try again later, with the backoff growing. Anything else (the
          // session ended) is final.
          if (e && (e.kind === "unavailable" || e.kind === "timeout")) this._maybeReconnect(code, reason);
          return;
        }
      }
      this.connect().catch(() => {});
    }, delay);
  }

  _write(frame) { this.ws.send(JSON.stringify(frame)); }

  _send(frame) {
    return new Promise((resolve, reject) => {
      if (!this._isOpen()) { reject(new MoaError({ code: "unavailable", kind: "unavailable", message: "not connected" })); return; }
      const id = "c" + this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MoaError({ code: "deadline_exceeded", kind: "timeout", message: "no answer from the edge" }));
      }, this.opts.callTimeout);
      this.pending.set(id, { resolve, reject, timer });
      this._write(Object.assign({ v: PROTOCOL_VERSION, id }, frame));
    });
  }

  _failPending(err) {
    for (const [id, p] of this.pending) { clearTimeout(p.timer); p.reject(err); this.pending.delete(id); }
  }

  _onFrame(data) {
    let f;
    try { f = JSON.parse(data); } catch { return; }
    if (f.v !== PROTOCOL_VERSION) return;
    if (f.id && this.pending.has(f.id)) {
      const p = this.pending.get(f.id);
      this.pending.delete(f.id);
      clearTimeout(p.timer);
      if (f.type === "error") p.reject(new MoaError(f.error));
      else p.resolve(f);
      return;
    }
    switch (f.type) {
      case "hello": this.hello = f.body; this.emit("open", f.body); if (this.onHello) this.onHello(); break;
      case "notification": this._onNotification(f.body, f.seq); break;
      case "event":
        this.emit("event", { topic: f.topic, body: f.body });
        this.emit(f.topic, f.body);
        break;
      case "expiring": this._onExpiring(f.body); break;
      case "bye": this.emit("bye", { reason: f.reason, error: f.error }); break;
      case "error": this.emit("error", new MoaError(f.error)); break;
    }
  }

  async _onExpiring(body) {
    this.emit("expiring", body);
    if (!this.opts.refresh) return;
    try {
      const token = await this.opts.refresh();
      await this._send({ type: "refresh", token });
    } catch (e) { this.emit("error", e); }
  }

  // Notifications are delivered exactly in sequence. One that repeats is dropped; one that
  // skips ahead is held while the missed ones are fetched.
  _onNotification(n, seq) {
    n = Object.assign({}, n, { seq });
    if (this.resuming) { this.held.push(n); return; }
    if (this.lastSeq !== null && n.seq <= this.lastSeq) return;
    if (this.lastSeq === null || n.seq === this.lastSeq + 1) { this.fruitless = 0; this._deliver(n); return; }
    if (this.fruitless >= 3) {
      // The edge keeps saying nothing is missing while the sequence has a hole: never skip it
      // silently; tell the app to reload.
      this.fruitless = 0;
      this.emit("resync", { last_seq: n.seq - 1, reason: "gap in the notification sequence" });
      this._deliver(n);
      return;
    }
    this.held.push(n);
    this._resumeNow().catch((e) => this.emit("error", e));
  }

  _deliver(n) {
    this.lastSeq = n.seq;
    this._saveSeq();
    this.emit("notification", n);
  }

  _resumeNow() {
    if (!this.user || !this._isOpen()) return Promise.resolve();
    if (this.resuming) return this.resuming;
    const since = this.lastSeq === null ? 0 : this.lastSeq;
    if (this.held.length) this.fruitless++;
    this.resuming = (async () => {
      try {
        const f = await this._send({ type: "resume", since });
        if (f.type === "resync") {
          this.lastSeq = f.body.last_seq;
          this._saveSeq();
          this.held = this.held.filter((n) => n.seq > this.lastSeq);
          this.emit("resync", { last_seq: f.body.last_seq, reason: f.reason });
        } else {
          for (const n of f.body.items || []) {
            if (this.lastSeq === null || n.seq > this.lastSeq) this._deliver(n);
          }
          if (this.lastSeq === null) { this.lastSeq = f.body.last_seq; this._saveSeq(); }
        }
      } finally {
        this.resuming = null;
      }
      const held = this.held.sort((a, b) => a.seq - b.seq);
      this.held = [];
      for (const n of held) this._onNotification(n, n.seq);
    })();
    return this.resuming;
  }

  _loadSeq() {
    if (!this.opts.storageKey || !globalThis.localStorage) return null;
    const v = globalThis.localStorage.getItem(this.opts.storageKey);
    return v === null ? null : Number(v);
  }

  _saveSeq() {
    if (this.opts.storageKey && globalThis.localStorage && this.lastSeq !== null) {
      globalThis.localStorage.setItem(this.opts.storageKey, String(this.lastSeq));
    }
  }
}

function defaultURL() {
  const loc = globalThis.location;
  if (!loc) throw new Error("moa: options.url is required outside a browser");
  const u = new URL("ws", loc.href); // relative: works when the edge is mounted under a prefix
  u.protocol = loc.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

// BrowserSession is the sign-in of a page served by the edge, shared by every tab of the
// browser. The refresh token lives in an HttpOnly cookie that only the edge's session/
// endpoints see (JavaScript never holds it); each tab keeps its own access token in memory.
//
//   const session = new BrowserSession();
//   await session.restore();                 // signed in already in another tab? (user or null)
//   const moa = new MoaClient({ token: () => session.accessToken, refresh: () => session.refresh() });
//   session.on("signed-out", () => location.reload());   // another tab signed out
//
// Refresh tokens rotate and auth revokes the whole session when a spent one comes back
// (reuse detection). Two tabs refreshing at the same moment would both send the same cookie,
// and the second would look like reuse. So refreshes are serialised across the browser's tabs
// with the Web Locks API: the second tab waits for the first, and its request then carries the
// cookie the first one just received. (The alternative, a grace window in which auth accepts a
// just-spent token, would also accept it from a thief for that window.) Browsers without Web
// Locks (before 2022), and pages that are not a secure context (plain http other than
// localhost: Web Locks needs https), refresh without it, as a single tab would; a race between
// two tabs there can still end the session, so serve the edge over TLS.
//
// Signing in and out is announced to the other tabs on a BroadcastChannel: "signed-out" (the
// session is revoked; drop what the tab shows) and "signed-in" ({user_id}). "signed-out" is
// also emitted in a tab whose refresh finds the session ended (signed out in another browser,
// or revoked for reuse).
// POST_TIMEOUT_MS bounds a session request: they run under a browser-wide lock.
const POST_TIMEOUT_MS = 15000;

export class BrowserSession {
  // options: base, the URL of the session endpoints (default "session/" relative to the page);
  // it must be on the page's own origin: the edge answers no CORS preflight, the cookie is
  // SameSite=Strict and the requests are sent with credentials "same-origin", so a session on
  // another origin cannot work. channel, the BroadcastChannel and lock name prefix (default
  // "moa.session").
  constructor(options = {}) {
    this.base = new URL(options.base || "session/", globalThis.location ? globalThis.location.href : undefined);
    this.name = options.channel || "moa.session";
    this.accessToken = null;
    this.expiresAt = null;
    this.user = null;
    this.handlers = new Map();
    this.inflight = null; // this tab's running refresh
    this.channel = globalThis.BroadcastChannel ? new BroadcastChannel(this.name) : null;
    if (this.channel) {
      this.channel.onmessage = (ev) => {
        const type = ev.data && ev.data.type;
        if (type === "signed-out") this._forget();
        if (type === "signed-out" || type === "signed-in") this._emit(type, { remote: true, user_id: ev.data.user_id });
      };
    }
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  _emit(type, detail) {
    for (const fn of this.handlers.get(type) || []) {
      try { fn(detail); } catch (e) { console.error("moa: handler for", type, "failed:", e); }
    }
  }

  // signIn starts a session with a password; every tab of the browser shares it.
  // It runs under the session lock, like refresh and signOut, so a refresh in another tab
  // cannot rotate the old cookie while this one replaces it.
  async signIn(email, password) {
    const s = await this._locked(() => this._post("login", { email, password }));
    this._keep(s);
    this._broadcast("signed-in", { user_id: s.user.id });
    return s.user;
  }

  // restore picks up the browser's session on page load: the user, or null when signed out.
  async restore() {
    try {
      await this.refresh();
      return this.user;
    } catch (e) {
      if (e.kind === "unauthenticated") return null;
      throw e;
    }
  }

  // refresh gets a new access token for this tab (rotating the shared refresh cookie) and
  // returns it; calls made while one runs share it.
  refresh() {
    if (!this.inflight) {
      this.inflight = this._locked(() => this._post("refresh")).then((s) => { this._keep(s); return s.access_token; },
        (e) => {
          // The session ended elsewhere (signed out in another browser, or revoked for
          // reuse): this tab and the others are signed out.
          if (e.kind === "unauthenticated") {
            const had = this.user;
            this._forget();
            if (had) { this._emit("signed-out", { remote: false, code: e.code }); this._broadcast("signed-out"); }
          }
          throw e;
        })
        .finally(() => { this.inflight = null; });
    }
    return this.inflight;
  }

  // signOut revokes the session (every tab's) and tells the other tabs.
  // A failure (the edge or auth not answering) leaves the session as it was: it was not
  // revoked, so pretending otherwise would leave it usable behind the user's back.
  async signOut() {
    await this._locked(() => this._post("logout"));
    this._forget();
    this._broadcast("signed-out");
  }

  // _locked runs fn under the browser-wide session lock (every tab's sign-in, refresh and
  // sign-out take turns: the refresh cookie rotates, and two tabs presenting the same one
  // would look like reuse). Each request is bounded (_post's timeout), so a hung edge cannot
  // hold the lock, and with it every tab, for ever.
  _locked(fn) {
    return globalThis.navigator && navigator.locks ? navigator.locks.request(this.name + ".refresh", fn) : fn();
  }

  _keep(s) { this.accessToken = s.access_token; this.expiresAt = s.expires_at; this.user = s.user; }
  _forget() { this.accessToken = null; this.expiresAt = null; this.user = null; }
  _broadcast(type, detail) { if (this.channel) this.channel.postMessage(Object.assign({ type }, detail)); }

  async _post(op, body) {
    let r;
    try {
      r = await fetch(new URL(op, this.base), {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/json", "X-Moa-Session": "1" },
        body: JSON.stringify(body || {}),
        signal: AbortSignal.timeout(POST_TIMEOUT_MS),
      });
    } catch (e) {
      if (e && e.name === "TimeoutError") {
        throw new MoaError({ code: "deadline_exceeded", kind: "timeout", message: "no answer from the edge's session endpoint" });
      }
      throw new MoaError({ code: "unavailable", kind: "unavailable", message: "cannot reach the edge: " + e.message });
    }
    const data = await r.json().catch(() => null);
    if (r.ok && !data) throw new MoaError({ code: "unavailable", kind: "unavailable", message: "the session answer was cut off" });
    if (!r.ok) throw new MoaError((data && data.error) || { code: "internal", kind: "internal", message: "HTTP " + r.status });
    return data;
  }
}

// Blog is the blog's calls (the post service, post.v1) over a MoaClient, one method each.
// Reads work on an anonymous session; writing posts and categories needs a writer, commenting
// any signed-in user, moderating the post's author. Post.html is sanitised by the service
// and may be inserted as HTML; titles, names and comment bodies are text: show them as text.
//
//   const blog = new Blog(moa);
//   const page = await blog.listPosts({ category: "travel", limit: 10 });
//   const post = await blog.getPost({ slug: page.items[0].slug });
export class Blog {
  constructor(client) { this.moa = client; }
  // Posts.
  createPost(p) { return this.moa.call("post.create_post", p); }          // {slug, title, body, category?, tags?, publish?}
  updatePost(p) { return this.moa.call("post.update_post", p); }          // {id, ...fields to change, status?, expected_version?}
  deletePost(id) { return this.moa.call("post.delete_post", { id }); }
  getPost(ref) { return this.moa.call("post.get_post", ref); }            // {id} or {slug}
  listPosts(q = {}) { return this.moa.call("post.list_posts", q); }       // {category?, tag?, limit?, cursor?}
  searchPosts(q) { return this.moa.call("post.search_posts", q); }        // {query, limit?, cursor?}
  myPosts(q = {}) { return this.moa.call("post.my_posts", q); }           // {limit?, cursor?}: drafts included
  // Categories.
  listCategories() { return this.moa.call("post.list_categories", {}); }
  createCategory(slug, name) { return this.moa.call("post.create_category", { slug, name }); }
  // Comments.
  listComments(q) { return this.moa.call("post.list_comments", q); }      // {post_id, limit?, cursor?}
  addComment(c) { return this.moa.call("post.add_comment", c); }          // {post_id, parent_id?, body}
  editComment(id, body) { return this.moa.call("post.edit_comment", { id, body }); }
  deleteComment(id) { return this.moa.call("post.delete_comment", { id }); }
  moderateComment(id, action) { return this.moa.call("post.moderate_comment", { id, action }); } // hide, unhide, delete
}

// Log is the blog's visit log (the log service): views of published posts, counted once per
// visitor per window. A signed-in caller is the visitor; an anonymous one sends visitor_id, an
// opaque id of 16 to 64 letters, digits, '-' and '_' that the client made up once and keeps.
export class Log {
  constructor(client) { this.moa = client; }
  recordView(v) { return this.moa.call("log.record_view", v); }          // {post_id, visitor_id?, referrer?} → {counted, views}
  postStats(postId) { return this.moa.call("log.post_stats", { post_id: postId }); } // {views, days, referrers}
  popularNow(q = {}) { return this.moa.call("log.popular_now", q); }     // {limit?, window_hours?} → {items, since}
}

// Payout is the payout service's API for a seller: their balance per currency (the ledger the
// payments credit, less the platform fee), paying it out to their bank, and their payouts,
// newest first. A seller only ever sees and moves their own ledger: the seller is the caller,
// never a field. Amounts are in minor units.
//
//   const payout = new Payout(moa);
//   const { balances } = await payout.balance();
//   const p = await payout.requestPayout("KRW");      // the whole KRW balance
//   const page = await payout.history({ limit: 10 });  // then { cursor: page.next_cursor }
export class Payout {
  constructor(client) { this.moa = client; }
  balance() { return this.moa.call("payout.balance", {}); }                     // {balances, pending?}
  history(q = {}) { return this.moa.call("payout.history", q); }                // {limit?, cursor?} → {items, next_cursor?}
  requestPayout(currency, amountMinor = 0) {                                   // 0 = the whole balance
    return this.moa.call("payout.request_payout", { currency, amount_minor: amountMinor });
  }
}
