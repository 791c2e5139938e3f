// The live ownership dashboard: sign in, load the panels, then follow the live streams.
import { API_URL, ApiError, gql, token } from "./api.js";
import { drawBalance, resizeBalance } from "./chart.js";
import { applyLabels, language, onLanguage, setLanguage, t } from "./i18n.js";
import { connectLive, forgetCursors, keepCursor, markSeen } from "./live.js";
import { el, eventItem, gini, renderOwners, renderPools, toast } from "./panels.js";
import * as Q from "./queries.js";

const $ = (selector) => document.querySelector(selector);
const FEED_SIZE = 50;
const HISTORY_PAGES = 50; // ownershipEvents pages read at start (claims today, first feed)
const DAY_MS = 86_400_000;

const state = { me: null, owners: new Map(), poolSize: 0, hasPools: false, claimsToday: 0 };
let stopLive = null;
let refreshTimer = null;

// --- messages -------------------------------------------------------------------------

function say(error) {
  const box = $("#message");
  if (!error) {
    box.hidden = true;
    return;
  }
  const code = error instanceof ApiError ? error.code : "OTHER";
  const known = ["NOT_FOUND", "FORBIDDEN", "RATE_LIMITED", "UNAUTHENTICATED", "NETWORK"];
  const seconds = (error.extra && error.extra.retryAfter) || 1;
  box.textContent = t(known.includes(code) ? `error.${code}` : "error.OTHER", {
    seconds,
    message: error.message,
  });
  box.dataset.code = code;
  box.hidden = false;
  if (code === "UNAUTHENTICATED") signOut(false);
}

async function attempt(work) {
  try {
    return await work();
  } catch (error) {
    say(error);
    return null;
  }
}

// --- sign-in --------------------------------------------------------------------------

async function offerDemoUsers() {
  // Only this server's own demo sign-in (ownergraph/demo_login.py), when it offers one.
  if (new URL(API_URL).origin !== location.origin) return;
  let listed;
  try {
    const r = await fetch("/demo-login", { headers: { Accept: "application/json" } });
    if (!r.ok) return;
    listed = await r.json();
  } catch {
    return;
  }
  const select = $("#demo-users");
  select.replaceChildren(
    el("option", { value: "" }, t("pickDemo")),
    ...listed.users.map((u) => el("option", { value: u.email }, `${u.name} · ${u.role}`))
  );
  $("#demo-form").hidden = false;
}

async function demoSignIn(event) {
  event.preventDefault();
  const email = $("#demo-users").value;
  if (!email) return;
  const r = await fetch("/demo-login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email }),
  });
  if (!r.ok) return say(new ApiError("FORBIDDEN", (await r.json()).error));
  signIn((await r.json()).token);
}

function signIn(value) {
  token.set(value.trim());
  forgetCursors();
  start();
}

function signOut(clearMessage = true) {
  if (stopLive) stopLive();
  stopLive = null;
  token.clear();
  forgetCursors();
  $("#board").hidden = true;
  $("#signout").hidden = true;
  $("#signin").hidden = false;
  $("#viewer").textContent = "";
  setLive("off");
  if (clearMessage) say(null);
}

function setLive(value) {
  // Back online: a message about the server being away no longer holds.
  if (value === "live" && $("#message").dataset.code === "NETWORK") say(null);
  const node = $("#live-state");
  node.dataset.state = value;
  node.textContent = t(value);
}

// --- balance --------------------------------------------------------------------------

function drawOwners() {
  const owners = [...state.owners.values()];
  renderOwners($("#owners tbody"), owners);
  drawBalance($("#chart"), owners);
  $("#gini").textContent = gini(owners.map((o) => o.customers)).toFixed(3);
  $("#overdue-total").textContent = String(owners.reduce((sum, o) => sum + o.overdue, 0));
}

async function loadStats() {
  const answer = await gql(Q.STATS);
  const stats = answer.data.ownershipStats;
  state.owners = new Map(
    stats.owners.map((load) => [
      load.owner.id,
      { ...load.owner, customers: load.customers, overdue: load.overdue },
    ])
  );
  state.poolSize = stats.poolSize;
  drawOwners();
  $("#gini").textContent = stats.giniOfLoad.toFixed(3);
  $("#overdue-total").textContent = String(stats.overdueFollowUps);
}

// --- pools ----------------------------------------------------------------------------

async function loadPools() {
  if (state.hasPools) {
    const soon = new Date(Date.now() + 7 * DAY_MS).toISOString();
    const answer = await gql(Q.POOLS, { soon });
    renderPools($("#pools tbody"), answer.data.pools);
    $("#recycle-soon").textContent = String(answer.data.dueSoon.totalCount);
  } else {
    drawOnePool();
    $("#recycle-soon").textContent = t("notYet");
  }
  $("#claims-today").textContent = String(state.claimsToday);
}

// One pool: its size from ownershipStats (and the events); due dates come with pools.
function drawOnePool() {
  renderPools($("#pools tbody"), [{ id: "pool", name: null, size: state.poolSize }]);
}

async function detectPools() {
  try {
    state.hasPools = Boolean((await gql(Q.HAS_POOLS)).data.__type);
  } catch {
    state.hasPools = false; // introspection off: the one-pool view
  }
}

// --- feed -----------------------------------------------------------------------------

function isToday(iso) {
  return new Date(iso).toDateString() === new Date().toDateString();
}

function addEvent(event, masked, fresh, live = true) {
  const list = $("#events");
  list.prepend(eventItem(event, masked, fresh));
  while (list.children.length > FEED_SIZE) list.lastChild.remove();
  if (live && event.kind === "CLAIMED" && isToday(event.at)) state.claimsToday += 1;
}

// The charts follow the events themselves; aggregates the page cannot derive (overdue,
// pools) are re-read shortly after, in one go.
function applyEvent(event) {
  const from = event.fromOwner && event.fromOwner.id;
  const to = event.toOwner && event.toOwner.id;
  if (from !== to) {
    if (state.owners.has(from)) state.owners.get(from).customers -= 1;
    if (state.owners.has(to)) state.owners.get(to).customers += 1;
    // Out of the pool: claimed or assigned from it; into it: released, recycled, imported.
    if (!from && event.kind !== "CREATED") state.poolSize = Math.max(0, state.poolSize - 1);
    if (!to) state.poolSize += 1;
    drawOwners();
    if (!state.hasPools) drawOnePool();
    $("#claims-today").textContent = String(state.claimsToday);
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => attempt(async () => { await loadStats(); await loadPools(); }), 1500);
  }
}

async function loadHistory() {
  // Oldest first: the walk ends at the newest event, whose cursor the live feed resumes
  // from; it reads kinds and times only, then the newest FEED_SIZE events in full.
  let after = null;
  const walked = [];
  for (let page = 0; page < HISTORY_PAGES; page += 1) {
    const conn = (await gql(Q.EVENT_KINDS, { after })).data.ownershipEvents;
    walked.push(...conn.edges.map((edge) => edge.node));
    if (!conn.pageInfo.hasNextPage) break;
    after = conn.pageInfo.endCursor;
  }
  state.claimsToday = walked.filter((e) => e.kind === "CLAIMED" && isToday(e.at)).length;
  const from = walked.length - FEED_SIZE - 1;
  const answer = await gql(Q.EVENTS, {
    after: from >= 0 ? walked[from].cursor : null,
    first: FEED_SIZE,
  });
  const list = $("#events");
  list.replaceChildren();
  answer.data.ownershipEvents.edges.forEach((edge, i) => {
    const masked = (field) => answer.masked("ownershipEvents", "edges", i, "node", field);
    addEvent(edge.node, masked, false, false);
  });
  return walked;
}

// --- waiting for the viewer -----------------------------------------------------------

async function decide(run, item) {
  const answer = await attempt(run);
  if (!answer) return;
  const result = Object.values(answer.data)[0];
  item.dataset.status = result.status;
  item.querySelectorAll("button").forEach((b) => b.remove());
  item.append(el("b", { class: "status" }, result.status));
}

async function loadWaiting() {
  const me = state.me.id;
  const [transfers, disputes] = await Promise.all([gql(Q.TRANSFERS), gql(Q.DISPUTES)]);
  const mine = transfers.data.transferRequests.filter((r) =>
    r.approvals.some((a) => a.approver.id === me && a.approved == null)
  );
  $("#transfers").replaceChildren(
    ...mine.map((r) => {
      const who = (user) => (user ? user.name : t("nobody"));
      const item = el(
        "li",
        { "data-transfer": r.id, "data-status": r.status },
        el("span", {}, `${t("transfer")}: ${who(r.fromUser)} → ${who(r.toUser)} · ${r.reason}`)
      );
      const vote = (approve) => () =>
        decide(() => gql(Q.DECIDE_TRANSFER, { id: r.id, approve }), item);
      item.append(
        el("button", { type: "button", class: "primary approve", onclick: vote(true) }, t("approve")),
        el("button", { type: "button", class: "reject", onclick: vote(false) }, t("reject"))
      );
      return item;
    })
  );
  const arbitrate = disputes.data.disputes.edges
    .map((e) => e.node)
    .filter((d) => d.arbiter && d.arbiter.id === me);
  $("#disputes").replaceChildren(
    ...arbitrate.map((d) => {
      const item = el(
        "li",
        { "data-dispute": d.id, "data-status": d.status },
        el("span", {}, `${t("dispute")}: ${d.customer.name} · ${d.reason}`)
      );
      for (const party of [d.claimant, d.respondent].filter(Boolean)) {
        const award = () => decide(() => gql(Q.RESOLVE_DISPUTE, { id: d.id, to: party.id }), item);
        item.append(el("button", { type: "button", onclick: award }, t("awardTo", { name: party.name })));
      }
      return item;
    })
  );
  $("#nothing-waiting").hidden = mine.length + arbitrate.length > 0;
}

// --- start ----------------------------------------------------------------------------

function follow(history) {
  // The live stream starts right after the newest event the history walk showed.
  markSeen(history.map((event) => event.id));
  if (history.length) keepCursor("events", history[history.length - 1].cursor);
  if (stopLive) stopLive();
  stopLive = connectLive(
    [
      {
        name: "events",
        field: "ownershipChanged",
        query: Q.LIVE_EVENTS,
        onData: (event, extensions) => {
          const paths = new Set(extensions.maskedFields || []);
          addEvent(event, (field) => paths.has(`ownershipChanged.${field}`), true);
          applyEvent(event);
        },
      },
      {
        name: "reminders",
        field: "reminderDue",
        query: Q.LIVE_REMINDERS,
        onData: (reminder) => {
          toast($("#toasts"), `${t("reminder")}: ${reminder.message}`);
          attempt(loadWaiting);
        },
      },
    ],
    { onState: setLive, onError: say, onSignedOut: () => signOut(false) }
  );
}

async function start() {
  if (!token.get()) {
    $("#signin").hidden = false;
    return;
  }
  const me = await attempt(() => gql(Q.ME));
  if (!me) return;
  state.me = me.data.me;
  $("#viewer").textContent = `${state.me.name} · ${state.me.role}`;
  $("#signin").hidden = true;
  $("#signout").hidden = false;
  $("#board").hidden = false;
  say(null);
  await detectPools();
  // Each panel on its own: a role that may not read one (a REP and the stats) sees why
  // there and still gets the others.
  await attempt(loadStats);
  const history = await attempt(loadHistory);
  await attempt(loadPools);
  await attempt(loadWaiting);
  if (history) follow(history);
}

$("#lang").value = language();
$("#lang").addEventListener("change", (e) => setLanguage(e.target.value));
onLanguage(() => state.me && attempt(async () => { drawOwners(); await loadPools(); await loadWaiting(); }));
$("#token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  signIn($("#token").value);
});
$("#demo-form").addEventListener("submit", demoSignIn);
$("#signout").addEventListener("click", () => signOut());
window.addEventListener("resize", () => resizeBalance($("#chart")));
applyLabels();
setLive("off");
offerDemoUsers();
start();
