// The public GraphQL API over HTTP, as any frontend calls it: POST, bearer token.
import { language } from "./i18n.js";

const params = new URLSearchParams(location.search);
// Same server by default; `?api=https://…/graphql` when the page is hosted elsewhere.
export const API_URL = params.get("api") || new URL("/graphql", location.href).href;
export const WS_URL = API_URL.replace(/^http/, "ws");
const TOKEN_KEY = "ownergraph.dashboard.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.code = code;
    this.extra = extra;
  }
}

// One answer's masked paths ("customers.edges.1.node.taxId"), asked with `masked(path)`.
export class Answer {
  constructor(data, extensions) {
    this.data = data;
    this.maskedPaths = new Set((extensions && extensions.maskedFields) || []);
  }
  masked(...path) {
    return this.maskedPaths.has(path.join("."));
  }
}

export function errorOf(errors, status, retryAfter) {
  const first = errors[0] || {};
  const ext = first.extensions || {};
  const code = ext.code || (status === 429 ? "RATE_LIMITED" : "INTERNAL");
  return new ApiError(code, first.message || `HTTP ${status}`, {
    retryAfter: ext.retryAfter ?? retryAfter,
  });
}

// Persisted queries (Apollo's protocol, README "Persisted queries"): the hash alone first,
// the text once when the server does not know it yet. Hashing needs a secure context
// (https or localhost); elsewhere the text goes every time.
const hashes = new Map();
async function sha256(text) {
  if (!hashes.has(text)) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"));
    hashes.set(text, hex.join(""));
  }
  return hashes.get(text);
}

async function post(payload, headers) {
  let response;
  try {
    response = await fetch(API_URL, { method: "POST", headers, body: JSON.stringify(payload) });
  } catch (e) {
    throw new ApiError("NETWORK", String(e));
  }
  try {
    return { response, body: await response.json() };
  } catch (e) {
    throw new ApiError(response.status === 429 ? "RATE_LIMITED" : "INTERNAL", `HTTP ${response.status}`);
  }
}

export async function gql(query, variables = {}) {
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/graphql-response+json, application/json",
    "Accept-Language": language(),
  };
  const bearer = token.get();
  if (bearer) headers.Authorization = "Bearer " + bearer;
  const extensions = globalThis.crypto?.subtle
    ? { persistedQuery: { version: 1, sha256Hash: await sha256(query) } }
    : null;
  let { response, body } = await post(extensions ? { variables, extensions } : { query, variables }, headers);
  if (extensions && body.errors?.[0]?.extensions?.code === "PERSISTED_QUERY_NOT_FOUND") {
    ({ response, body } = await post({ query, variables, extensions }, headers));
  }
  if (body.errors && body.errors.length) {
    throw errorOf(body.errors, response.status, response.headers.get("retry-after"));
  }
  return new Answer(body.data, body.extensions);
}
