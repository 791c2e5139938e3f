// Rendering of the panels: plain DOM, text only (never HTML from the API).
import { t } from "./i18n.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child != null) node.append(child);
  }
  return node;
}

// A value the API masked is shown as masked, not as empty.
export function shown(value, masked) {
  if (masked) return el("span", { class: "masked", title: "extensions.maskedFields" }, t("masked"));
  return value == null || value === "" ? t("nobody") : String(value);
}

export function gini(values) {
  const n = values.length;
  const total = values.reduce((a, b) => a + b, 0);
  if (n === 0 || total === 0) return 0;
  const ordered = [...values].sort((a, b) => a - b);
  const weighted = ordered.reduce((sum, v, i) => sum + (i + 1) * v, 0);
  return (2 * weighted) / (n * total) - (n + 1) / n;
}

export function renderOwners(tbody, owners) {
  tbody.replaceChildren(
    ...owners.map((o) =>
      el(
        "tr",
        { "data-owner": o.id, class: o.capacity != null && o.customers > o.capacity ? "over" : "" },
        el("td", {}, o.name),
        el("td", { class: "num count" }, String(o.customers)),
        el("td", { class: "num" }, o.capacity == null ? t("nobody") : String(o.capacity)),
        el("td", { class: "num overdue" }, String(o.overdue))
      )
    )
  );
}

export function renderPools(tbody, pools) {
  tbody.replaceChildren(
    ...pools.map((p) =>
      el(
        "tr",
        { "data-pool": p.id },
        el("td", {}, p.name || t("defaultPool")),
        el("td", { class: "num size" }, String(p.size))
      )
    )
  );
}

function time(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
}

const TO_POOL = new Set(["RELEASED", "RECYCLED", "CREATED"]);

// `masked(field)` says whether the API masked that field of this event.
export function eventItem(event, masked, fresh) {
  const who = (field) => shown(event[field] && event[field].name, masked(field));
  const moved = event.fromOwner || event.toOwner || TO_POOL.has(event.kind) || masked("toOwner");
  return el(
    "li",
    { "data-event": event.id, "data-kind": event.kind, class: fresh ? "fresh" : "" },
    el("span", { class: "kind" }, event.kind),
    el("span", { class: "when" }, time(event.at)),
    el(
      "span",
      {},
      shown(event.customer && event.customer.name, masked("customer")),
      ...(moved
        ? [": ", who("fromOwner"), " → ", event.toOwner || masked("toOwner") ? who("toOwner") : t("pool_")]
        : []),
      " · ",
      who("actor"),
      event.rule ? ` · ${event.rule}` : ""
    )
  );
}

export function toast(container, text) {
  const node = el("div", { class: "toast", role: "status" }, text);
  container.append(node);
  setTimeout(() => node.remove(), 8000);
}
