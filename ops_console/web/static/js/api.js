// REST calls with the access token. The access token lives in this module's memory only;
// the refresh token is an HttpOnly cookie that no script here can read (docs/console-web.md).
// A reload, or a 401, asks /api/v1/auth/refresh for a new access token with that cookie.
const CSRF = { "X-Requested-With": "cityhub" };
let current = null; // { access_token, username, role }
let refreshing = null;

export function session() {
  return current;
}

function keep(body) {
  current = { access_token: body.access_token, username: body.username, role: body.role };
  return current;
}

export async function login(username, password) {
  const response = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password, refresh_token_in: "cookie" }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return keep(body);
}

export async function logout() {
  // Through api(), so an expired access token is refreshed first; the answer clears the cookie.
  if (current) await api("/api/v1/auth/logout", { method: "POST", body: {} }).catch(() => {});
  current = null;
}

function auth(s) {
  return { Authorization: `Bearer ${s.access_token}`, "Content-Type": "application/json" };
}

async function exchange() {
  const response = await fetch("/api/v1/auth/refresh", { method: "POST", headers: CSRF });
  if (!response.ok) { current = null; return false; }
  keep(await response.json());
  return true;
}

// One refresh at a time, in this tab and (where the browser has Web Locks) across tabs: they
// share the cookie, and presenting a refresh token that was just exchanged ends every session.
export function refresh() {
  if (!refreshing) {
    const run = navigator.locks ? navigator.locks.request("cityhub.refresh", exchange) : exchange();
    refreshing = run.finally(() => { refreshing = null; });
  }
  return refreshing;
}

export async function api(path, { method = "GET", body } = {}, retried = false) {
  const s = session();
  if (!s) throw new Error("not logged in");
  const response = await fetch(path, { method, headers: auth(s), body: body ? JSON.stringify(body) : undefined });
  if (response.status === 401 && !retried && await refresh()) return api(path, { method, body }, true);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || response.statusText);
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return data;
}

// Importing this module resumes a session from the cookie (a top-level await), so session()
// is right from the first line of the page's own code.
await refresh().catch(() => false);
