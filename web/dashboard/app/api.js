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

export async function gql(query, variables = {}) {
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/graphql-response+json, application/json",
    "Accept-Language": language(),
  };
  const bearer = token.get();
  if (bearer) headers.Authorization = "Bearer " + bearer;
  let response;
  try {
    response = await fetch(API_URL, {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new ApiError("NETWORK", String(e));
  }
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new ApiError(response.status === 429 ? "RATE_LIMITED" : "INTERNAL", `HTTP ${response.status}`);
  }
  if (body.errors && body.errors.length) {
    throw errorOf(body.errors, response.status, response.headers.get("retry-after"));
  }
  return new Answer(body.data, body.extensions);
}
