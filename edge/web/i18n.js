// UI text in Korean and English. The marketplace's users are mostly Korean; the language is the
// one the user picked (kept in localStorage), else the browser's first language that is Korean
// or English, else English. English strings are the page's original ones, word for word.
//
// t(key, params) looks a string up ({name} in it is replaced by params.name; an entry may be a
// function of params where a plural or word order needs it). applyStatic(root) translates the
// page's static text: elements marked data-i18n (text), data-i18n-placeholder,
// data-i18n-aria-label and data-i18n-title.

const STORE = "moa.lang";
export const LANGS = ["ko", "en"];

const en = {
  "title": "Moa — subscription marketplace demo",
  "lang.label": "Language",
  "status.connecting": "connecting…",
  "status.connected": "connected",
  "status.disconnected": (p) => `disconnected (${p.code}${p.reason ? " " + p.reason : ""})`,
  "status.reconnecting": "reconnecting in {ms} ms…",
  "status.cannot": "cannot connect: {msg}",
  "whoami.none": "not signed in",
  "role.consumer": "consumer",
  "role.seller": "seller",
  "signout": "Sign out",
  "ops.link": "Operations",
  "auth.h": "Sign up or sign in",
  "auth.email": "Email",
  "auth.password": "Password",
  "auth.name": "Display name",
  "auth.name.ph": "for sign-up",
  "auth.role": "Role",
  "auth.signup": "Sign up",
  "auth.signin": "Sign in",
  "seller.h": "Publish a product",
  "f.title": "Title",
  "f.description": "Description",
  "f.price": "Price (minor units)",
  "f.currency": "Currency",
  "f.period": "Period",
  "f.seats": "Seats",
  "f.terms": "Terms",
  "f.terms.default": "Cancel any time before the next billing date.",
  "f.tags": "Tags",
  "f.tags.ph": "comma-separated",
  "period.weekly": "weekly",
  "period.monthly": "monthly",
  "period.quarterly": "quarterly",
  "period.yearly": "yearly",
  "publish": "Publish",
  "mine.h": "My products",
  "mine.more": "More of my products",
  "edit.h": "Edit",
  "save": "Save",
  "cancel": "Cancel",
  "delete": "Delete",
  "delete.confirm": "Confirm delete",
  "delete.again": "Press again to delete this product.",
  "dash.h": "Dashboard",
  "refresh": "Refresh",
  "dash.explain": "Revenue is what was charged minus what was refunded. A consumer who cancels is refunded pro rata: the part of the paid period still to come, rounded down to a minor unit. So a cancellation one minute into a month refunds almost all of the charge.",
  "browse.h": "Browse",
  "search.label": "Search products",
  "search": "Search",
  "all": "All products",
  "suggest.hint": "Suggestions appear as you type (arrow keys to pick).",
  "recent.h": "Recent searches",
  "recent.clear": "Clear all",
  "popular.h": "Popular searches",
  "sort": "Sort",
  "sort.newest": "newest",
  "sort.price_asc": "price: low to high",
  "sort.price_desc": "price: high to low",
  "sort.popular": "most viewed",
  "tag": "Tag",
  "tag.any": "any",
  "products": "Products",
  "load.more": "Load more",
  "close": "Close",
  "tags": "Tags",
  "terms": "Terms",
  "subs.h": "My subscriptions",
  "chat.h": "Chat",
  "chat.older": "Older messages",
  "chat.ph": "Write a message",
  "chat.msg": "Message",
  "chat.send": "Send",
  "notif.h": "Notifications",
  "notif.resync": "Some notifications could not be caught up; showing the latest.",
  "mail.h": "Dev mailbox",
  "mail.external": "Mail sent by the system in development:",
  "mail.open": "open the mailbox",
  // dynamic text (app.js)
  "details": "{title}: details",
  "product.meta": "{price} / {period} · {taken}/{capacity} seats · {views} views",
  "subscribe": "Subscribe",
  "chat.seller": "Chat with seller",
  "edit": "Edit",
  "edit.of": "Edit {title}",
  "nothing.found": "Nothing found.",
  "no.products": "No products yet.",
  "price.per": "{price} / {period}",
  "seats.left": "{left} of {capacity} seats left",
  "views": "{n} views",
  "version": "(version {v})",
  "sub.result": "Subscription to {title}: {state}.",
  "state.PENDING": "PENDING",
  "state.ACTIVE": "ACTIVE",
  "state.CANCELLING": "CANCELLING",
  "state.CANCELLED": "CANCELLED",
  "mine.meta": " — {price} / {period} · {taken}/{capacity} seats",
  "dash.row": "{active} active · {revenue} revenue · {churned} churned · {failed} failed",
  "published": "Published “{title}”.",
  "deleted": "Deleted “{title}”.",
  "saved": "Saved “{title}”.",
  "nothing.changed": "Nothing changed.",
  "online": "online",
  "offline": "offline",
  "typing": "typing…",
  "seen": "✓ seen",
  "step.requested": "requested",
  "step.noseat": "no seat left",
  "step.seat": "seat reserved",
  "step.declined": "payment declined",
  "step.paid": "paid",
  "step.paid.amount": "paid {amount}",
  "step.active": "active",
  "step.active.until": "active until {date}",
  "step.cancelling": "cancelling: {reason}",
  "step.refunded": "refunded {amount} (pro rata)",
  "step.released": "seat released",
  "step.cancelled": "cancelled",
  "reason.seat_unavailable": "no seats were left",
  "reason.payment_failed": "the payment was declined",
  "reason.by_consumer": "cancelled by you",
  "reason.timed_out": "it could not be completed in time",
  "reason.none": "no reason given",
  "says.done": "done",
  "says.now": "in progress",
  "says.failed": "failed",
  "says.todo": "to do",
  "steps.of": "Steps of the subscription to {title}",
  "chart.col.day": "Day (UTC)",
  "chart.col.new": "New",
  "chart.col.churned": "Churned",
  "chart.col.failed": "Failed",
  "chart.col.charged": "Charged",
  "chart.col.refunded": "Refunded",
  "chart.col.active": "Active at day's end",
  "chart.figures": "Figures by day",
  "chart.none": "Nothing happened in these days.",
  "chart.caption": "Last {days} days (UTC). Bars: revenue per day, charged minus refunded. Line: subscribers at each day's end.",
  "chart.label": "{title}, last {days} days: {active} active subscribers now; revenue over the period {revenue}",
  "recent.remove": "Remove “{query}” from recent searches",
  "searched.times": "searched {n} times",
  "terms.preview": (p) => (p.n === 0 ? "New terms: no active subscriber to notify."
    : `New terms: ${p.n} active subscriber${p.n === 1 ? "" : "s"} will get a notification and a mail with the full text.`),
  "terms.preview.failed": "Could not count the subscribers ({code}).",
  "saved.version": "Saved “{title}” (version {v}, terms version {tv}).",
  "mail.to": "to {to} · {status}",
  "kind.charge": "charge",
  "kind.refund": "refund",
  "pay.PENDING": "PENDING",
  "pay.SUCCEEDED": "SUCCEEDED",
  "pay.FAILED": "FAILED",
  // the operations page (ops.js)
  "ops.h": "Operations",
  "ops.close": "close",
  "ops.secret": "Operator secret or operator token",
  "ops.signin": "Sign in as operator",
  "ops.figures": "Live figures",
  "ops.revenue": "Revenue by currency:",
  "ops.none": "none yet",
  "ops.timeline": "Saga timeline",
  "ops.sub": "Subscription id",
  "ops.show": "Show",
  "ops.traces": "Recent traces",
  "ops.chart.requests": "Requests /s",
  "ops.chart.errors": "Handler errors /s",
  "ops.chart.lag": "Consumer lag (pending)",
  "ops.chart.started": "Subscriptions started",
  "ops.chart.activated": "Subscriptions activated",
  "ops.chart.revenue": "Revenue (minor units)",
  "ops.trace.meta": "{spans} spans, {ms} ms, {services}",
  "ops.trace.failed": ", {n} failed",
  "ops.timeline.of": "timeline of {key}",
  "ops.traces.none": "No traces yet: use the app, then come back.",
  "ops.timeline.none": "No recorded trace carries {key} (only the last traces are kept).",
  "ops.timeline.summary": "{steps} steps over {ms} ms in {traces} trace(s): {services}",
  "ops.retry": "retry",
  "ops.retry.n": "retry #{n}",
  "ops.compensation": "compensation",
  "ops.error": "error {code}",
  "ops.db": "{n} db",
};

const ko = {
  "title": "모아 — 구독 마켓플레이스 데모",
  "lang.label": "언어",
  "status.connecting": "연결 중…",
  "status.connected": "연결됨",
  "status.disconnected": (p) => `연결 끊김 (${p.code}${p.reason ? " " + p.reason : ""})`,
  "status.reconnecting": "{ms}ms 후 다시 연결합니다…",
  "status.cannot": "연결할 수 없습니다: {msg}",
  "whoami.none": "로그인하지 않음",
  "role.consumer": "구매자",
  "role.seller": "판매자",
  "signout": "로그아웃",
  "ops.link": "운영",
  "auth.h": "회원가입 또는 로그인",
  "auth.email": "이메일",
  "auth.password": "비밀번호",
  "auth.name": "닉네임",
  "auth.name.ph": "회원가입할 때만 입력",
  "auth.role": "역할",
  "auth.signup": "회원가입",
  "auth.signin": "로그인",
  "seller.h": "상품 등록",
  "f.title": "상품명",
  "f.description": "설명",
  "f.price": "가격 (최소 통화 단위)",
  "f.currency": "통화",
  "f.period": "결제 주기",
  "f.seats": "정원",
  "f.terms": "이용 약관",
  "f.terms.default": "다음 결제일 전까지 언제든지 해지할 수 있습니다.",
  "f.tags": "태그",
  "f.tags.ph": "쉼표로 구분",
  "period.weekly": "매주",
  "period.monthly": "매월",
  "period.quarterly": "매 분기",
  "period.yearly": "매년",
  // after a price: "₩5,900 / 월" (the select's "매월" reads wrong there)
  "per.weekly": "주",
  "per.monthly": "월",
  "per.quarterly": "분기",
  "per.yearly": "년",
  "publish": "등록",
  "mine.h": "내 상품",
  "mine.more": "내 상품 더 보기",
  "edit.h": "수정",
  "save": "저장",
  "cancel": "취소",
  "delete": "삭제",
  "delete.confirm": "삭제 확인",
  "delete.again": "한 번 더 누르면 이 상품이 삭제됩니다.",
  "dash.h": "대시보드",
  "refresh": "새로고침",
  "dash.explain": "매출은 결제된 금액에서 환불된 금액을 뺀 값입니다. 구독을 해지한 구매자는 남은 결제 기간만큼 일할 계산으로 환불받으며, 최소 통화 단위 미만은 버립니다. 그래서 한 달 구독을 1분 만에 해지하면 거의 전액이 환불됩니다.",
  "browse.h": "상품 둘러보기",
  "search.label": "상품 검색",
  "search": "검색",
  "all": "전체 상품",
  "suggest.hint": "입력하면 추천 검색어가 나타납니다 (방향키로 선택).",
  "recent.h": "최근 검색어",
  "recent.clear": "모두 지우기",
  "popular.h": "인기 검색어",
  "sort": "정렬",
  "sort.newest": "최신순",
  "sort.price_asc": "낮은 가격순",
  "sort.price_desc": "높은 가격순",
  "sort.popular": "조회수순",
  "tag": "태그",
  "tag.any": "전체",
  "products": "상품 목록",
  "load.more": "더 보기",
  "close": "닫기",
  "tags": "태그",
  "terms": "이용 약관",
  "subs.h": "내 구독",
  "chat.h": "채팅",
  "chat.older": "이전 메시지",
  "chat.ph": "메시지를 입력하세요",
  "chat.msg": "메시지",
  "chat.send": "보내기",
  "notif.h": "알림",
  "notif.resync": "일부 알림을 불러오지 못해 최신 알림부터 보여 줍니다.",
  "mail.h": "개발용 메일함",
  "mail.external": "개발 환경에서 시스템이 보낸 메일:",
  "mail.open": "메일함 열기",
  "details": "{title} 상세 보기",
  "product.meta": "{price} / {period} · 구독 {taken}/{capacity}명 · 조회 {views}회",
  "subscribe": "구독하기",
  "chat.seller": "판매자와 채팅",
  "edit": "수정",
  "edit.of": "{title} 수정",
  "nothing.found": "검색 결과가 없습니다.",
  "no.products": "아직 상품이 없습니다.",
  "price.per": "{price} / {period}",
  "seats.left": "정원 {capacity}명 중 {left}자리 남음",
  "views": "조회 {n}회",
  "version": "(버전 {v})",
  "sub.result": "{title} 구독: {state}",
  "state.PENDING": "처리 중",
  "state.ACTIVE": "이용 중",
  "state.CANCELLING": "해지 중",
  "state.CANCELLED": "해지됨",
  "mine.meta": " — {price} / {period} · 구독 {taken}/{capacity}명",
  "dash.row": "구독자 {active}명 · 매출 {revenue} · 해지 {churned}건 · 실패 {failed}건",
  "published": "“{title}” 상품을 등록했습니다.",
  "deleted": "“{title}” 상품을 삭제했습니다.",
  "saved": "“{title}” 상품을 저장했습니다.",
  "nothing.changed": "변경된 내용이 없습니다.",
  "online": "온라인",
  "offline": "오프라인",
  "typing": "입력 중…",
  "seen": "✓ 읽음",
  "step.requested": "구독 신청",
  "step.noseat": "남은 자리 없음",
  "step.seat": "자리 확보",
  "step.declined": "결제 거절됨",
  "step.paid": "결제 완료",
  "step.paid.amount": "{amount} 결제 완료",
  "step.active": "이용 중",
  "step.active.until": "{date}까지 이용 가능",
  "step.cancelling": "해지 처리 (사유: {reason})",
  "step.refunded": "{amount} 환불 (일할 계산)",
  "step.released": "자리 반환",
  "step.cancelled": "해지됨",
  "reason.seat_unavailable": "남은 자리 없음",
  "reason.payment_failed": "결제 거절",
  "reason.by_consumer": "직접 해지",
  "reason.timed_out": "처리 시간 초과",
  "reason.none": "사유 없음",
  "says.done": "완료",
  "says.now": "진행 중",
  "says.failed": "실패",
  "says.todo": "대기",
  "steps.of": "{title} 구독 진행 단계",
  "chart.col.day": "날짜 (UTC)",
  "chart.col.new": "신규",
  "chart.col.churned": "해지",
  "chart.col.failed": "실패",
  "chart.col.charged": "결제액",
  "chart.col.refunded": "환불액",
  "chart.col.active": "일 마감 구독자",
  "chart.figures": "날짜별 수치",
  "chart.none": "이 기간에는 기록이 없습니다.",
  "chart.caption": "최근 {days}일 (UTC). 막대: 일별 매출 (결제액 − 환불액). 선: 일 마감 시점의 구독자 수.",
  "chart.label": "{title}, 최근 {days}일: 현재 구독자 {active}명, 기간 매출 {revenue}",
  "recent.remove": "최근 검색어에서 “{query}” 삭제",
  "searched.times": "{n}회 검색됨",
  "terms.preview": (p) => (p.n === 0 ? "새 약관: 알릴 구독자가 없습니다."
    : `새 약관: 구독자 ${p.n}명에게 알림과 전문이 담긴 메일이 발송됩니다.`),
  "terms.preview.failed": "구독자 수를 확인하지 못했습니다 ({code}).",
  "saved.version": "“{title}” 상품을 저장했습니다 (버전 {v}, 약관 버전 {tv}).",
  "mail.to": "받는 사람: {to} · {status}",
  "kind.charge": "결제",
  "kind.refund": "환불",
  "pay.PENDING": "처리 중",
  "pay.SUCCEEDED": "완료",
  "pay.FAILED": "실패",
  // 운영 페이지 (ops.js)
  "ops.h": "운영",
  "ops.close": "닫기",
  "ops.secret": "운영자 비밀 키 또는 운영자 토큰",
  "ops.signin": "운영자로 로그인",
  "ops.figures": "실시간 지표",
  "ops.revenue": "통화별 매출:",
  "ops.none": "아직 없음",
  "ops.timeline": "사가 타임라인",
  "ops.sub": "구독 ID",
  "ops.show": "보기",
  "ops.traces": "최근 트레이스",
  "ops.chart.requests": "초당 요청 수",
  "ops.chart.errors": "초당 핸들러 오류 수",
  "ops.chart.lag": "컨슈머 지연 (대기 중)",
  "ops.chart.started": "시작된 구독",
  "ops.chart.activated": "활성화된 구독",
  "ops.chart.revenue": "매출 (최소 통화 단위)",
  "ops.trace.meta": "스팬 {spans}개, {ms}ms, {services}",
  "ops.trace.failed": ", 실패 {n}건",
  "ops.timeline.of": "{key} 타임라인",
  "ops.traces.none": "아직 트레이스가 없습니다. 앱을 사용한 뒤 다시 확인하세요.",
  "ops.timeline.none": "{key}이(가) 담긴 트레이스가 없습니다 (최근 트레이스만 보관합니다).",
  "ops.timeline.summary": "트레이스 {traces}개, {ms}ms 동안 {steps}단계: {services}",
  "ops.retry": "재시도",
  "ops.retry.n": "재시도 {n}회차",
  "ops.compensation": "보상",
  "ops.error": "오류 {code}",
  "ops.db": "DB 호출 {n}회",
};

const DICT = { en, ko };

// pick chooses from the stored choice, then the browser's languages (ko* → ko, en* → en).
function pick() {
  try {
    const saved = localStorage.getItem(STORE);
    if (LANGS.includes(saved)) return saved;
  } catch { /* storage may be off: the browser's language then */ }
  for (const l of navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"]) {
    const base = String(l).toLowerCase().split("-")[0];
    if (LANGS.includes(base)) return base;
  }
  return "en";
}

let lang = pick();
const listeners = [];

export const getLang = () => lang;

// locale is what Intl formats money and dates with: Korean as in Korea; English as the browser
// has it when it lists an English (so an en-US browser sees exactly what it did before), else en-US.
export function locale() {
  if (lang === "ko") return "ko-KR";
  const nav = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
  return nav.find((l) => /^en\b/i.test(l)) || "en-US";
}

export function t(key, params = {}) {
  const v = DICT[lang][key] ?? en[key];
  if (v === undefined) return key; // a missing key shows itself rather than nothing
  if (typeof v === "function") return v(params);
  return v.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

// has reports whether key is in the dictionary (for words that come from the server, such as
// a subscription's state, shown translated when known and as sent otherwise).
export const has = (key) => key in en;

export function applyStatic(root = document) {
  for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of root.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  for (const e of root.querySelectorAll("[data-i18n-aria-label]")) e.setAttribute("aria-label", t(e.dataset.i18nAriaLabel));
  for (const e of root.querySelectorAll("[data-i18n-title]")) e.title = t(e.dataset.i18nTitle);
  // A textarea's default value is translated only while the user has not changed it.
  for (const e of root.querySelectorAll("textarea[data-i18n-value]")) {
    const was = e.dataset.i18nShown;
    if (was === undefined || e.value === was) { e.value = t(e.dataset.i18nValue); e.dataset.i18nShown = e.value; }
  }
  if (root === document) {
    document.documentElement.lang = lang;
    document.title = t("title");
    const sel = document.getElementById("lang");
    if (sel) sel.value = lang;
  }
}

// setLang switches the page's language, remembers the choice, and tells the listeners (the app
// re-renders what it drew).
export function setLang(l) {
  if (!LANGS.includes(l)) return;
  lang = l;
  try { localStorage.setItem(STORE, l); } catch { /* the choice then lasts for this page only */ }
  applyStatic(document);
  for (const f of listeners) f(l);
}

export const onLangChange = (f) => listeners.push(f);
