// Runs the SDK (moa.mjs, copied next to this file by TestSDKWithNode) against a scripted fake
// WebSocket: notification ordering, gap → resume, resync, token refresh, call errors.
import { MoaClient, MoaError } from "./moa.mjs";

const fail = (msg) => { console.error("FAIL: " + msg); process.exit(1); };
const eq = (got, want, what) => {
  if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
};
const tick = () => new Promise((r) => setTimeout(r, 5));

// The scripted edge: answers auth, resume (from `store`), refresh and req frames.
let store = { items: [], recoverable: true, last_seq: 0 };
const sent = [];
class FakeWS {
  constructor(url) {
    this.url = url; this.readyState = 0;
    FakeWS.last = this;
    setTimeout(() => { this.readyState = 1; this.push({ type: "hello", body: { version: 1 } }); }, 0);
  }
  push(f) { this.onmessage({ data: JSON.stringify(Object.assign({ v: 1 }, f)) }); }
  send(s) {
    const f = JSON.parse(s);
    sent.push(f);
    setTimeout(() => this.answer(f), 0);
  }
  answer(f) {
    switch (f.type) {
      case "auth": this.push({ type: "ok", id: f.id, body: { user: { user_id: "u1", role: "consumer" } } }); break;
      case "refresh": this.push({ type: "ok", id: f.id, body: {} }); break;
      case "resume": {
        if (!store.recoverable) { this.push({ type: "resync", id: f.id, reason: "pruned", body: { last_seq: store.last_seq } }); break; }
        const items = store.items.filter((n) => n.seq > f.since);
        this.push({ type: "ok", id: f.id, body: { items, recoverable: true, last_seq: store.last_seq } });
        break;
      }
      case "req":
        if (f.method === "catalog.nope") this.push({ type: "error", id: f.id, error: { code: "unknown_method", kind: "not_found", message: "no" } });
        else this.push({ type: "ok", id: f.id, body: { echo: f.body } });
    }
  }
  close(code, reason) { this.readyState = 3; if (this.onclose) this.onclose({ code, reason }); }
}
const n = (seq) => ({ seq, kind: "test", title: "n" + seq });
const add = (seq) => { store.items.push(n(seq)); store.last_seq = seq; };

let refreshed = 0;
const moa = new MoaClient({ url: "ws://edge/ws", WebSocket: FakeWS, reconnect: false, token: () => "tok",
  refresh: async () => { refreshed++; return "tok2"; } });
const got = [];
const resyncs = [];
moa.on("notification", (x) => got.push(x.seq));
moa.on("resync", (x) => resyncs.push(x.last_seq));

add(1); add(2);
await moa.connect();
for (let i = 0; i < 20 && got.length < 2; i++) await tick();
eq(got, [1, 2], "catch-up on connect");
eq(sent.filter((f) => f.type === "auth")[0].token, "tok", "auth token");

// In order: delivered. Repeated: dropped.
add(3); FakeWS.last.push({ type: "notification", seq: 3, body: n(3) });
FakeWS.last.push({ type: "notification", seq: 3, body: n(3) });
await tick();
eq(got, [1, 2, 3], "live notification and its repeat");

// A gap: 4 was stored but its push was lost; 5 arrives. The SDK resumes from 3.
add(4); add(5); FakeWS.last.push({ type: "notification", seq: 5, body: n(5) });
for (let i = 0; i < 20 && got.length < 5; i++) await tick();
eq(got, [1, 2, 3, 4, 5], "gap filled by resume");
const resumes = sent.filter((f) => f.type === "resume").map((f) => f.since);
eq(resumes, [0, 3], "resume requests");

// Not recoverable: the app is told to reload, and the sequence continues after last_seq.
store = { items: [], recoverable: false, last_seq: 8 };
FakeWS.last.push({ type: "notification", seq: 9, body: n(9) });
for (let i = 0; i < 20 && got.length < 6; i++) await tick();
eq(resyncs, [8], "resync");
eq(got, [1, 2, 3, 4, 5, 9], "after resync");

// Expiring token: refreshed and sent in a refresh frame.
FakeWS.last.push({ type: "expiring", body: { expires_at: "2030-01-01T00:00:00Z" } });
for (let i = 0; i < 20 && !sent.some((f) => f.type === "refresh"); i++) await tick();
eq(refreshed, 1, "refresh callback");
eq(sent.find((f) => f.type === "refresh").token, "tok2", "refresh frame token");

// Calls: answers by id, errors as MoaError with the code.
eq(await moa.call("catalog.get_product", { id: "p" }), { echo: { id: "p" } }, "call answer");
try { await moa.call("catalog.nope", {}); fail("error answer resolved"); } catch (e) {
  if (!(e instanceof MoaError) || e.code !== "unknown_method") fail("error answer: " + e);
}
console.log("ok");
