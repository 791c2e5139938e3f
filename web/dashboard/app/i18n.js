// Labels in English and Chinese: the browser's language first, then the switch (kept).
const LABELS = {
  en: {
    title: "Ownership dashboard", signIn: "Sign in", signOut: "Sign out", token: "API token",
    demoUser: "Demo user", pickDemo: "Pick a demo user…", balance: "Ownership balance",
    gini: "Gini of load", overdueTotal: "Overdue follow-ups", owner: "Owner",
    customers: "Customers", capacity: "Capacity", overdue: "Overdue", pools: "Pools",
    pool: "Pool", size: "Size", recycleSoon: "Recycled within 7 days",
    claimsToday: "Claims today", waiting: "Waiting for your decision",
    nothingWaiting: "Nothing waiting.", feed: "Live feed", approve: "Approve",
    reject: "Reject", awardTo: "Award to {name}", transfer: "Transfer", dispute: "Dispute",
    masked: "masked", pool_: "pool", live: "live", reconnecting: "reconnecting…",
    off: "offline", defaultPool: "Public pool", notYet: "n/a before pools",
    reminder: "Reminder", nobody: "—",
    "error.NOT_FOUND": "Not found: it does not exist or is not yours to see.",
    "error.FORBIDDEN": "Not allowed: your role or token may not do this.",
    "error.RATE_LIMITED": "Too many requests: wait {seconds} s and try again.",
    "error.UNAUTHENTICATED": "Sign in again: the token is missing, expired or revoked.",
    "error.OTHER": "The server answered: {message}",
    "error.NETWORK": "The server cannot be reached.",
  },
  zh: {
    title: "客户归属看板", signIn: "登录", signOut: "退出", token: "API 令牌",
    demoUser: "演示用户", pickDemo: "选择演示用户…", balance: "归属均衡",
    gini: "负载基尼系数", overdueTotal: "逾期跟进", owner: "负责人", customers: "客户数",
    capacity: "容量", overdue: "逾期", pools: "公海", pool: "公海", size: "客户数",
    recycleSoon: "7 天内回收", claimsToday: "今日领取", waiting: "待你审批",
    nothingWaiting: "暂无待办。", feed: "实时动态", approve: "批准", reject: "拒绝",
    awardTo: "判给 {name}", transfer: "转移", dispute: "争议", masked: "已隐藏",
    pool_: "公海", live: "实时", reconnecting: "重新连接中…", off: "离线",
    defaultPool: "公海", notYet: "启用多公海后显示", reminder: "提醒", nobody: "—",
    "error.NOT_FOUND": "未找到：不存在或你无权查看。",
    "error.FORBIDDEN": "无权操作：你的角色或令牌不允许。",
    "error.RATE_LIMITED": "请求过于频繁：请 {seconds} 秒后重试。",
    "error.UNAUTHENTICATED": "请重新登录：令牌缺失、过期或已吊销。",
    "error.OTHER": "服务器返回：{message}",
    "error.NETWORK": "无法连接服务器。",
  },
};
const KEY = "ownergraph.dashboard.lang";
let lang =
  localStorage.getItem(KEY) || ((navigator.language || "en").startsWith("zh") ? "zh" : "en");
const listeners = [];

export function language() {
  return lang;
}

export function t(key, vars = {}) {
  const text = LABELS[lang][key] ?? LABELS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function applyLabels(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}

export function setLanguage(next) {
  lang = LABELS[next] ? next : "en";
  localStorage.setItem(KEY, lang);
  applyLabels();
  for (const listener of listeners) listener(lang);
}

export function onLanguage(listener) {
  listeners.push(listener);
}
