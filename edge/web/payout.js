// The seller's payouts, a panel of the seller's card on the marketplace page: the balance per
// currency (what the payments of their products credited, less the platform fee), a button
// per currency that pays the whole balance out to their bank, and their payouts, newest first,
// a page at a time. app.js calls showPayouts where it draws the seller's dashboard; the panel
// is built here so the page's HTML does not change.
//
// Everything goes through the SDK's Payout class (payout service). A seller only ever sees
// their own ledger: the service takes the seller from the access token.

import { Payout, MoaError } from "../sdk/moa.js";
import { t, has, locale } from "./i18n.js";

const PAGE = 10;
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const money = (amount, currency) => {
  // Amounts are in minor units; Intl knows how many a currency has (KRW none, USD two).
  try {
    const f = new Intl.NumberFormat(locale(), { style: "currency", currency });
    return f.format(amount / 10 ** f.resolvedOptions().maximumFractionDigits);
  } catch { return `${amount} ${currency}`; }
};
const when = (s) => (s ? new Date(s).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" }) : "");
const errText = (e) => (e instanceof MoaError ? `${e.code}: ${e.message}` : String(e && e.message ? e.message : e));
const statusText = (s) => (has("payout.status." + s) ? t("payout.status." + s) : s);

let api = null;
let panel = null;  // the panel's elements, built once
let balSeq = 0;    // the newest balance load; an older one that ends later is dropped
let histSeq = 0;   // likewise for the history's first page
let cursor = "";   // where the history's next page starts ("" when it has no more)
let followUps = 0; // reloads left while a payout is still pending at the bank
// The messages shown (functions, so that a language switch says them again in the new one).
const said = { result: null, error: null };
const say = (which, f) => { said[which] = f; panel[which].textContent = f ? f() : ""; };

// showPayouts draws (or redraws, in the page's language) the seller's payouts panel under the
// dashboard and loads it; app.js calls it whenever it renders a seller.
export function showPayouts(client) {
  if (!api) api = new Payout(client);
  if (!panel) panel = build();
  panel.title.textContent = t("payout.h");
  panel.refresh.textContent = t("refresh");
  panel.historyH.textContent = t("payout.history");
  panel.more.textContent = t("payout.more");
  panel.balances.setAttribute("aria-label", t("payout.balance"));
  for (const w of ["result", "error"]) say(w, said[w]);
  reload();
}

function build() {
  const p = {
    title: el("span"),
    refresh: el("button", { id: "refresh-payouts", type: "button", className: "secondary" }),
    balances: el("ul", { id: "payout-balances", className: "list" }),
    result: el("p", { id: "payout-result", role: "status" }),
    error: el("p", { id: "payout-error", className: "error", role: "alert" }),
    historyH: el("h4", { id: "payout-history-h" }),
    history: el("ul", { id: "payout-history", className: "list" }),
    more: el("button", { id: "payout-more", type: "button", className: "secondary", hidden: true }),
  };
  p.result.setAttribute("aria-live", "polite");
  p.history.setAttribute("aria-labelledby", "payout-history-h");
  const h = el("h3", { id: "payouts-h" }, p.title, " ", p.refresh);
  const section = el("section", { id: "payouts", className: "payouts" }, h, p.balances, p.result, p.error, p.historyH, p.history, p.more);
  section.setAttribute("aria-labelledby", "payouts-h");
  document.getElementById("seller").append(section);
  p.refresh.addEventListener("click", () => { say("error", null); reload(); });
  p.more.addEventListener("click", () => loadHistory(true));
  return p;
}

function reload() { loadBalance(); loadHistory(false); }

async function loadBalance() {
  const seq = ++balSeq;
  try {
    const b = await api.balance();
    if (seq !== balSeq) return;
    const pending = new Map((b.pending || []).map((x) => [x.currency, x.amount_minor]));
    const rows = (b.balances || []).map((x) => balanceRow(x, pending.get(x.currency) || 0));
    // A currency with nothing left but a payout still at the bank shows too.
    for (const [cur, amt] of pending) if (!(b.balances || []).some((x) => x.currency === cur)) rows.push(balanceRow({ currency: cur, amount_minor: 0 }, amt));
    if (!rows.length) rows.push(el("li", { className: "meta", textContent: t("payout.balance.none") }));
    panel.balances.replaceChildren(...rows);
  } catch (e) {
    if (seq === balSeq) say("error", () => t("payout.load.error", { msg: errText(e) }));
  }
}

function balanceRow(x, pendingMinor) {
  const amount = money(x.amount_minor, x.currency);
  const pay = el("button", { type: "button", className: "pay-out", textContent: t("payout.pay"), disabled: x.amount_minor <= 0 });
  pay.setAttribute("aria-label", t("payout.pay.label", { amount }));
  pay.addEventListener("click", () => payOut(x.currency, pay));
  const li = el("li", {}, el("strong", { className: "amount", textContent: amount }), " ", pay);
  if (pendingMinor > 0) li.append(el("div", { className: "meta", textContent: t("payout.pending", { amount: money(pendingMinor, x.currency) }) }));
  li.dataset.currency = x.currency;
  li.dataset.amount = String(x.amount_minor);
  return li;
}

async function payOut(currency, button) {
  button.disabled = true;
  say("error", null);
  say("result", () => t("payout.paying"));
  try {
    const p = await api.requestPayout(currency, 0); // 0: the whole balance
    say("result", () => t("payout.requested", { amount: money(p.amount_minor, p.currency) }));
    followUps = 5;
  } catch (e) {
    say("result", null);
    say("error", () => t("payout.failed", { msg: errText(e) }));
    button.disabled = false;
    button.focus(); // the error is announced (role=alert); the keyboard stays where it was
  }
  reload();
}

async function loadHistory(more) {
  const seq = more ? histSeq : ++histSeq;
  if (more && !cursor) return;
  panel.more.disabled = true;
  try {
    const page = await api.history(more ? { limit: PAGE, cursor } : { limit: PAGE });
    if (seq !== histSeq) return;
    const rows = (page.items || []).map(historyRow);
    if (more) panel.history.append(...rows);
    else panel.history.replaceChildren(...(rows.length ? rows : [el("li", { className: "meta none", textContent: t("payout.history.none") })]));
    cursor = page.next_cursor || "";
    panel.more.hidden = !cursor;
    // The bank settles a payout a moment after it is requested: look again a few times while
    // one is pending, so the seller sees it paid (or reversed) without pressing Refresh.
    if (!more && followUps > 0 && (page.items || []).some((x) => x.status === "PENDING")) {
      followUps--;
      setTimeout(reload, 1000);
    }
  } catch (e) {
    if (seq === histSeq) say("error", () => t("payout.load.error", { msg: errText(e) }));
  } finally {
    panel.more.disabled = false;
  }
}

function historyRow(x) {
  const li = el("li", { className: "payout status-" + String(x.status).toLowerCase() },
    el("strong", { textContent: t("payout.row", { amount: money(x.amount_minor, x.currency), status: statusText(x.status) }) }));
  const meta = [t("payout.requested.at", { when: when(x.requested_at) })];
  if (x.bank_ref) meta.push(t("payout.bank.ref", { ref: x.bank_ref }));
  if (x.reason) meta.push(t("payout.reason", { reason: x.reason }));
  li.append(el("div", { className: "meta", textContent: meta.join(" · ") }));
  li.dataset.id = x.id;
  li.dataset.status = x.status;
  li.dataset.amount = String(x.amount_minor);
  return li;
}
