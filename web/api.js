// JSON to and from the server, the CSRF token on changes, problem details as ApiError.

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
let csrfToken = null;
let signedOutHandler = null;

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

function readBody(response) {
  const json = response.status !== 204 && response.headers.get("content-type")?.includes("json");
  return json ? response.json().catch(() => null) : null;
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

/** {"cc[0]": message, ...} */
export function fieldErrors(exc) {
  const out = {};
  for (const item of exc?.problem?.errors || []) {
    if (item && typeof item.field === "string") out[item.field] = item.message;
  }
  return out;
}
