// The one way the browser talks to the server: JSON in and out, the CSRF token on every
// change, and errors as RFC 9457 problem details turned into an ApiError with a readable detail.

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
let csrfToken = null;
let signedOutHandler = null;

/** What to do when the session has ended (the server answers 401 to a signed-in call). */
export function onSignedOut(handler) {
  signedOutHandler = handler;
}

export class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem?.detail || problem?.title || `The server answered ${status}.`;
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem || {};
    this.detail = detail;
  }
}

async function readBody(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  return null;
}

export async function request(method, path, body) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (!SAFE_METHODS.has(method) && path !== "/api/auth/login") {
    if (csrfToken === null) await me();
    headers["x-csrf-token"] = csrfToken;
  }
  const init = { method, headers, credentials: "same-origin" };
  if (body instanceof FormData) {
    init.body = body; // the browser writes the multipart boundary itself
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { detail: "Cannot reach the server. Check your connection." });
  }
  const data = await readBody(response);
  if (response.status === 401 && signedOutHandler && !path.startsWith("/api/auth/")) {
    signedOutHandler();
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** The signed-in account; remembers its CSRF token for later changes. */
export async function me() {
  const account = await request("GET", "/api/auth/me");
  csrfToken = account.csrf_token;
  return account;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
export const put = (path, body) => request("PUT", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);

/** The problem's messages by field ("cc[0]" -> "..."), for showing each next to its input. */
export function fieldErrors(exc) {
  const out = {};
  for (const item of exc?.problem?.errors || []) {
    if (item && typeof item.field === "string") out[item.field] = item.message;
  }
  return out;
}
