// Alert detail: facts, a chart of the related readings, the SOP checklist, actions, timeline.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { api } from "./api.js";
import { t } from "./i18n.js";

const OUTCOMES = ["handled", "cleared", "false_alarm", "duplicate"];

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }

// Pre-alerts raised from a forecast (analytics/forecast): alert types ending in "_forecast".
export function isForecast(alert) { return /_forecast$/.test(alert.alert_type || ""); }

export function forecastBadge() {
  return h("span", { class: "badge forecast", "data-testid": "forecast-badge", title: t("forecast.hint") }, t("forecast.badge"));
}

export async function showAlert(panel, alertId, onChanged) {
  const alert = await api(`/api/v1/alerts/${alertId}`);
  const error = h("p", { class: "error", role: "alert", "data-testid": "action-error" });
  const act = async (path, body) => {
    error.textContent = "";
    try {
      await api(`/api/v1/alerts/${alertId}/${path}`, { method: "POST", body });
      onChanged(alertId);
    } catch (e) {
      error.textContent = t("action.failed", { reason: e.message });
    }
  };
  const live = ["open", "acknowledged", "assigned"].includes(alert.state);
  const note = h("input", { placeholder: t("action.note_placeholder"), "data-testid": "note" });
  const outcome = h("select", { "data-testid": "outcome" }, OUTCOMES.map((o) => h("option", { value: o }, t(`outcome.${o}`))));
  const agencies = h("select", { "data-testid": "agency" });
  const chart = h("div", { class: "chart", "data-testid": "chart" });
  const forecastTable = h("div", { class: "forecast-run", "data-testid": "forecast-run" });

  panel.replaceChildren(
    h("div", { class: "panel-head" },
      h("h2", { "data-testid": "detail-title" }, `#${alert.id} ${alert.title}`),
      h("span", { class: `badge sev-${alert.severity}` }, t(`severity.${alert.severity}`)),
      isForecast(alert) ? forecastBadge() : "",
      h("span", { class: `badge state-${alert.state}`, "data-testid": "detail-state" }, t(`state.${alert.state}`))),
    h("dl", { class: "facts" },
      h("dt", {}, t("detail.device")), h("dd", {}, alert.device_id || "—"),
      h("dt", {}, t("detail.zone")), h("dd", {}, alert.zone || "—"),
      h("dt", {}, t("detail.value")), h("dd", {}, alert.metric ? `${alert.metric} = ${alert.value}` : "—"),
      h("dt", {}, t("detail.first_seen")), h("dd", {}, when(alert.first_seen)),
      h("dt", {}, t("detail.count")), h("dd", {}, alert.count),
      // Which rule definition raised it, so an operator can look that version up (rules page).
      h("dt", {}, t("detail.rule")), h("dd", { "data-testid": "detail-rule" }, alert.rule_version
        ? t("detail.rule_version", { rule: alert.rule_id, version: alert.rule_version }) : alert.rule_id),
      h("dt", {}, t("detail.suggested_agency")),
      h("dd", { "data-testid": "detail-agency" }, alert.suggested_agency || "—")),
    h("h3", {}, t("detail.chart")), chart, forecastTable,
    h("div", { class: "actions" },
      h("button", { type: "button", "data-testid": "acknowledge", disabled: alert.state !== "open",
        onclick: () => act("acknowledge") }, t("action.acknowledge")),
      h("button", { type: "button", "data-testid": "escalate", disabled: !live || alert.severity === "critical",
        onclick: () => act("escalate", { note: note.value || null }) }, t("action.escalate")),
      agencies,
      h("button", { type: "button", "data-testid": "assign", disabled: !live,
        onclick: () => act("assign", { agency: agencies.value, note: note.value || null }) }, t("action.assign")),
      outcome,
      h("button", { type: "button", "data-testid": "resolve", disabled: !live,
        onclick: () => act("resolve", { outcome: outcome.value, note: note.value || null }) }, t("action.resolve")),
      note,
      h("button", { type: "button", "data-testid": "add-note",
        onclick: () => note.value && act("notes", { text: note.value }) }, t("action.note"))),
    error,
    h("h3", {}, t("detail.sop")),
    h("ul", { class: "sop", "data-testid": "sop" }, alert.sop.map((item) => h("li", {},
      h("label", {}, h("input", { type: "checkbox", checked: item.done, disabled: !live,
        onchange: (e) => act(`sop/${item.item_no}`, { done: e.target.checked }) }),
        ` ${item.text}`, item.ticked_by ? h("small", {}, ` — ${item.ticked_by}`) : "")))),
    h("h3", {}, t("detail.timeline")),
    h("ol", { class: "timeline", "data-testid": "timeline" }, alert.timeline.map((c) =>
      h("li", {}, h("time", {}, when(c.at)), ` ${c.actor}: ${c.action} → ${t(`state.${c.to_state}`)}`,
        c.details && c.details.text ? h("q", {}, c.details.text) : ""))),
  );
  api("/api/v1/alerts/agencies").then((list) => agencies.replaceChildren(
    // The rule's suggested agency is preselected; the operator may still pick another.
    ...list.filter((a) => a.enabled).map((a) => h("option",
      { value: a.id, selected: a.id === alert.suggested_agency }, a.name)))).catch(() => {});
  if (alert.device_id && alert.metric) {
    drawChart(chart, alert, forecastTable).catch(() => { chart.textContent = t("detail.nodata"); });
  }
  else chart.textContent = t("detail.nodata");
  return alert;
}

// The station's newest forecast run (hourly means 1-6 h ahead), or null where there is none.
async function loadForecast(alert) {
  if (alert.metric !== "pm25") return null;
  const run = await api(`/api/v1/devices/${encodeURIComponent(alert.device_id)}/forecast?metric=pm25`).catch(() => null);
  return run && run.points.length ? run : null;
}

function showRun(box, run) {
  const hour = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  box.replaceChildren(
    h("p", {}, t("forecast.made", { at: when(run.made_at), version: run.model_version })),
    h("table", { class: "forecast", "data-testid": "forecast-table" },
      h("tr", {}, h("th", {}, t("forecast.hour")), h("th", {}, t("forecast.horizon")), h("th", {}, "PM2.5")),
      run.points.map((p) => h("tr", {}, h("td", {}, hour(p.target_at)), h("td", {}, `+${p.horizon_h} h`),
        h("td", {}, p.value.toFixed(1))))));
}

async function drawChart(box, alert, forecastBox) {
  const from = new Date(Date.now() - 6 * 3600 * 1000).toISOString();
  const [series, run] = await Promise.all([
    api(`/api/v1/telemetry/${encodeURIComponent(alert.device_id)}?metric=${encodeURIComponent(alert.metric)}&from=${encodeURIComponent(from)}&limit=5000`),
    loadForecast(alert)]);
  if (run) showRun(forecastBox, run);
  if (!series.points.length && !run) { box.textContent = t("detail.nodata"); return; }
  // Readings, then the forecast: each hourly mean at the middle of its hour, dashed on from
  // the last reading.
  const points = series.points.map((p) => [new Date(p.ts).getTime() / 1000, p.value ?? p.avg, null]);
  if (run) {
    const forecast = run.points.map((p) => [new Date(p.target_at).getTime() / 1000 + 1800, null, p.value]);
    // The dashed line starts at the last reading before the first forecast hour's middle.
    const before = points.filter((p) => p[0] < forecast[0][0]);
    if (before.length) before[before.length - 1][2] = before[before.length - 1][1];
    points.push(...forecast);
  }
  points.sort((a, b) => a[0] - b[0]);
  const data = [points.map((p) => p[0]), points.map((p) => p[1]), points.map((p) => p[2])];
  const width = Math.max(280, box.clientWidth || 420);
  box.replaceChildren();
  box.dataset.forecastPoints = run ? String(run.points.length) : "0";
  new uPlot({
    width, height: 180,
    series: [{}, { label: alert.metric, stroke: "#d9480f", width: 2 },
      { label: t("forecast.series"), stroke: "#1c7ed6", width: 2, dash: [6, 4], spanGaps: true, show: !!run }],
    axes: [{}, { size: 50 }],
  }, data, box);
}

export { h };
