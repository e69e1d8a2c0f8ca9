// REST calls with the access token; a 401 refreshes the token once, then logs out.
const store = sessionStorage;

export function session() {
  const raw = store.getItem("cityhub.session");
  return raw ? JSON.parse(raw) : null;
}

export async function login(username, password) {
  const response = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || response.statusText);
  store.setItem("cityhub.session", JSON.stringify({ ...body, username }));
  return session();
}

export async function logout() {
  const s = session();
  store.removeItem("cityhub.session");
  if (s) await fetch("/api/v1/auth/logout", { method: "POST", headers: auth(s),
    body: JSON.stringify({ refresh_token: s.refresh_token }) }).catch(() => {});
}

function auth(s) {
  return { Authorization: `Bearer ${s.access_token}`, "Content-Type": "application/json" };
}

export async function refresh() {
  const s = session();
  if (!s) return false;
  const response = await fetch("/api/v1/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: s.refresh_token }),
  });
  if (!response.ok) { store.removeItem("cityhub.session"); return false; }
  store.setItem("cityhub.session", JSON.stringify({ ...s, ...(await response.json()) }));
  return true;
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
