// The situation board: login, map, alert queue, alert detail, KPI tiles, device search, audit.
import { api, login, logout, session } from "./api.js";
import { showAlert, h, isForecast, forecastBadge } from "./detail.js";
import { applyTo, language, loadTranslations, setLanguage, t } from "./i18n.js";
import { Live } from "./live.js";
import { CATEGORIES, CityMap } from "./map.js";
import { beep } from "./sound.js";

const CHANNEL_PART = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const $ = (id) => document.getElementById(id);
const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
const state = { alerts: [], selected: null, map: null, live: null, kpis: {}, liveKpis: {} };

async function start() {
  await loadTranslations();
  setLanguage(language());
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", async () => { state.live?.stop(); await logout(); location.reload(); });
  $("lang").addEventListener("click", () => { setLanguage(language() === "ko" ? "en" : "ko"); rerender(); });
  $("device-search").addEventListener("input", onSearch);
  $("audit-refresh").addEventListener("click", loadAudit);
  if (session()) await showBoard(); else showLogin();
}

function showLogin() { $("board").hidden = true; $("login").hidden = false; }

async function onLogin(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  $("login-error").textContent = "";
  try {
    await login(form.get("username"), form.get("password"));
    await showBoard();
  } catch (error) {
    $("login-error").textContent = t("login.failed", { reason: error.message });
  }
}

async function showBoard() {
  $("login").hidden = true;
  $("board").hidden = false;
  const s = session();
  $("who").textContent = `${s.username} (${s.role})`;
  $("audit-panel").hidden = !["supervisor", "admin"].includes(s.role);
  $("lang").textContent = language() === "ko" ? "English" : "한국어";
  drawLegend();
  const zones = await (await fetch("/static/zones.json")).json();
  state.map = new CityMap($("map"), zones, (id) => selectDevice(id),
    { loadDetail: (id) => api(`/api/v1/devices/${encodeURIComponent(id)}`) });
  const devices = await loadDevices();
  await Promise.all([loadAlerts(), loadKpis(), loadAudit()]);
  // Only zones the live protocol can name (ops_console/live/protocol.py): one zone such as
  // "mapo-gu/hapjeong" in a subscription would have the whole subscription refused.
  const zoneChannels = [...new Set(devices.map((d) => d.zone).filter((z) => z && CHANNEL_PART.test(z)))]
    .slice(0, 150).map((z) => `readings:zone:${z}`);
  state.live = new Live({
    channels: ["alerts", "devices", "kpis", ...zoneChannels],
    onMessage: onLive,
    onState: (st) => {
      $("live-state").textContent = t(`live.${st}`);
      $("live-state").dataset.state = st;
    },
  });
  state.live.start();
  loadLatest(devices);
}

async function loadDevices() {
  const all = [];
  let cursor = null;
  do {
    const page = await api(`/api/v1/devices?status=active&limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
    all.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && all.length < 5000);
  state.map.setDevices(all);
  return all;
}

async function loadLatest(devices) {
  // The last PM10 of each air-quality station, until the live readings take over.
  for (const d of devices.filter((x) => x.kind === "air_quality").slice(0, 200)) {
    try {
      const detail = await api(`/api/v1/devices/${encodeURIComponent(d.id)}`);
      const pm10 = detail.latest.find((r) => r.metric === "pm10");
      if (pm10 && state.map.devices.get(d.id).pm10 == null) state.map.update(d.id, { pm10: pm10.value });
      if (!state.map.devices.get(d.id).latest) state.map.update(d.id, { latest: latestOf(detail.latest) });
    } catch { /* a device removed meanwhile */ }
  }
}

// [{metric, value, ts}] → {metric: {value, ts}}, as the map's tooltip keeps them.
function latestOf(readings) {
  return Object.fromEntries(readings.map((r) => [r.metric, { value: r.value, ts: r.ts }]));
}

let alertReload = null;
function scheduleAlerts() {
  clearTimeout(alertReload);
  alertReload = setTimeout(loadAlerts, 100);
}

async function loadAlerts() {
  const page = await api("/api/v1/alerts?state=live&limit=200");
  state.alerts = page.items.sort((a, b) =>
    (SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]) || (b.last_seq - a.last_seq));
  renderQueue();
}

function renderQueue() {
  const list = $("queue");
  $("queue-count").textContent = String(state.alerts.length);
  if (!state.alerts.length) {
    list.replaceChildren(h("li", { class: "muted" }, t("alerts.empty")));
    return;
  }
  list.replaceChildren(...state.alerts.map((a) => h("li", {
    class: `alert sev-${a.severity}${a.id === state.selected ? " selected" : ""}`,
    "data-alert": a.id, "data-severity": a.severity, "data-state": a.state, tabindex: 0,
    onclick: () => selectAlert(a.id),
  },
  h("span", { class: `badge sev-${a.severity}` }, t(`severity.${a.severity}`)),
  // A forecast's badge goes inside the title's cell of the grid.
  h("strong", {}, isForecast(a) ? [forecastBadge(), " "] : "", a.title),
  h("span", { class: "meta" }, `${a.device_id || ""} · ${a.zone || ""} · ${a.metric ? `${a.metric} ${a.value}` : ""}`),
  h("span", { class: `badge state-${a.state}` }, t(`state.${a.state}`)))));
}

async function selectAlert(id) {
  state.selected = id;
  renderQueue();
  const alert = await showAlert($("detail"), id, (changed) => { scheduleAlerts(); selectAlert(changed); loadAudit(); });
  if (alert.device_id) state.map.highlight(alert.device_id);
}

function selectDevice(id) {
  state.map.highlight(id);
  const related = state.alerts.find((a) => a.device_id === id);
  if (related) selectAlert(related.id);
}

function onLive(message) {
  switch (message.type) {
    case "alert":
      if (message.state === "open" && message.severity === "critical" && !state.alerts.some((a) => a.id === message.alert_id)) beep();
      scheduleAlerts();
      if (message.alert_id === state.selected) selectAlert(state.selected);
      break;
    case "device_status":
      state.map.update(message.device_id, { connection: message.online ? "online" : "offline" });
      break;
    case "readings": {
      const pm10 = message.readings.find((r) => r.metric === "pm10");
      if (pm10) state.map.update(message.device_id, { pm10: pm10.value });
      state.map.update(message.device_id, { connection: "online", latest: latestOf(message.readings) });
      break;
    }
    case "kpis":
      state.liveKpis = message;
      renderKpis();
      loadKpis();
      break;
    case "subscribed":
      if (message.resync) loadAlerts();
      break;
    default:
      break;
  }
}

async function loadKpis() {
  try { state.kpis = await api("/api/v1/kpis"); } catch { state.kpis = {}; }
  renderKpis();
}

function renderKpis() {
  const k = state.kpis, live = state.liveKpis;
  const open = live.open_alerts ? Object.values(live.open_alerts).reduce((a, b) => a + b, 0) : k.open_alerts;
  const critical = live.open_alerts ? live.open_alerts.critical : k.open_by_severity?.critical;
  const tiles = [
    ["open", open ?? "—"],
    ["critical", critical ?? "—"],
    ["unacknowledged", live.unacknowledged ?? "—"],
    ["devices", k.devices_total !== undefined ? `${live.devices_online ?? k.devices_online} / ${k.devices_total}` : "—"],
    ["mtta", k.mean_time_to_acknowledge_s != null ? `${Math.round(k.mean_time_to_acknowledge_s)} s` : "—"],
  ];
  $("kpis").replaceChildren(...tiles.map(([key, value]) => h("div", { class: `tile tile-${key}`, "data-kpi": key },
    h("span", { class: "value" }, value), h("span", { class: "label" }, t(`kpi.${key}`)))));
}

function onSearch(event) {
  const q = event.target.value.trim().toLowerCase();
  const box = $("search-results");
  if (!q) { box.replaceChildren(); return; }
  const found = [...state.map.devices.values()].filter((d) =>
    d.id.toLowerCase().includes(q) || (d.zone || "").toLowerCase().includes(q) || d.kind.includes(q)).slice(0, 20);
  box.replaceChildren(...(found.length ? found.map((d) => h("li", { onclick: () => selectDevice(d.id), "data-device": d.id },
    `${d.id} · ${d.kind} · ${d.zone || "—"} · ${t(`legend.${d.connection === "online" ? "online" : "offline"}`)}`))
    : [h("li", { class: "muted" }, t("map.nomatch"))]));
}

async function loadAudit() {
  if ($("audit-panel").hidden) return;
  try {
    const page = await api("/api/v1/audit?limit=30");
    $("audit").replaceChildren(...page.items.map((row) => h("tr", {},
      h("td", {}, new Date(row.ts).toLocaleTimeString()), h("td", {}, row.actor), h("td", {}, row.action), h("td", {}, row.target))));
  } catch { /* not allowed for this role */ }
}

function drawLegend() {
  $("legend").replaceChildren(
    ...[...CATEGORIES, "nodata"].map((c) => h("span", { class: `key cat-${c}` }, t(`legend.${c}`))),
    h("span", { class: "key conn-offline" }, t("legend.offline")));
}

function rerender() {
  applyTo(document);
  $("lang").textContent = language() === "ko" ? "English" : "한국어";
  drawLegend();
  state.map?.relabel();
  renderQueue();
  renderKpis();
  if (state.selected) selectAlert(state.selected);
}

start();
