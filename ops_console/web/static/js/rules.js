// The rules page: list the rules, read one with its versions, enable/disable it, and edit
// its JSON document (GET/POST/PUT /api/v1/rules, docs/analytics.md). A refused rule shows
// the server's reason, which names the field ("levels.0.above: …"). Supervisors and admins
// change rules; other staff read them.
import { api, session } from "./api.js";
import { applyTo, loadTranslations, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const MANAGERS = new Set(["supervisor", "admin"]);
const TEMPLATE = {
  id: "my-rule", kind: "threshold", title: "", alert_type: "air_quality", metric: "pm25",
  device_kind: "air_quality", window_s: 3600,
  levels: [{ name: "advisory", severity: "warning", above: 75, for_s: 7200, clear_below: 35 }],
};
let selected = null; // the rule shown, or null for a new one
let rules = [];

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function showError(message) {
  $("rule-error").textContent = message;
  $("editor").classList.toggle("invalid", Boolean(message));
}

async function loadList() {
  rules = (await api("/api/v1/rules")).rules;
  $("rules").replaceChildren(...rules.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.rule = r.id;
    tr.className = `${r.enabled ? "" : "disabled"}${selected && selected.id === r.id ? " selected" : ""}`;
    tr.append(cell(r.id), cell(String(r.version)), cell(r.rule.kind), cell(r.rule.title),
      cell(r.enabled ? t("rules.yes") : t("rules.no")));
    tr.addEventListener("click", () => show(r.id));
    return tr;
  }));
}

async function show(id) {
  showError("");
  selected = await api(`/api/v1/rules/${encodeURIComponent(id)}`);
  $("rule-name").textContent = `${selected.id} · v${selected.version}`;
  $("editor").value = JSON.stringify(selected.rule, null, 2);
  const toggle = $("toggle");
  toggle.hidden = !MANAGERS.has(session().role);
  toggle.textContent = selected.enabled ? t("rules.disable") : t("rules.enable");
  toggle.dataset.enabled = String(selected.enabled);
  $("versions").replaceChildren(...selected.versions.slice().reverse().map((v) => {
    const li = document.createElement("li");
    li.textContent = `v${v.version} · ${v.created_at.slice(0, 16).replace("T", " ")} · ${v.created_by} · `
      + `${v.enabled ? t("rules.enabled") : t("rules.disabled")}${v.note ? ` · ${v.note}` : ""}`;
    return li;
  }));
  for (const tr of $("rules").children) tr.classList.toggle("selected", tr.dataset.rule === id);
}

function newRule() {
  selected = null;
  showError("");
  $("rule-name").textContent = t("rules.new");
  $("toggle").hidden = true;
  $("versions").replaceChildren();
  $("editor").value = JSON.stringify(TEMPLATE, null, 2);
}

async function save() {
  let doc;
  try {
    doc = JSON.parse($("editor").value);
  } catch (error) {
    showError(`${t("rules.bad_json")}: ${error.message}`);
    return;
  }
  const note = $("note").value.trim() || null;
  try {
    const saved = selected
      ? await api(`/api/v1/rules/${encodeURIComponent(selected.id)}`, { method: "PUT", body: { rule: doc, note } })
      : await api("/api/v1/rules", { method: "POST", body: { rule: doc, note } });
    $("note").value = "";
    await loadList();
    await show(saved.id);
  } catch (error) {
    showError(error.message);
  }
}

async function toggle() {
  const action = selected.enabled ? "disable" : "enable";
  try {
    await api(`/api/v1/rules/${encodeURIComponent(selected.id)}/${action}`, { method: "POST" });
    await loadList();
    await show(selected.id);
  } catch (error) {
    showError(error.message);
  }
}

async function main() {
  await loadTranslations();
  applyTo(document);
  const s = session();
  if (!s) {
    $("signed-out").hidden = false;
    return;
  }
  $("who").textContent = `${s.username} (${s.role})`;
  $("rules-page").hidden = false;
  const manager = MANAGERS.has(s.role);
  for (const id of ["new-rule", "save", "note"]) $(id).hidden = !manager;
  $("editor").readOnly = !manager;
  $("new-rule").addEventListener("click", newRule);
  $("save").addEventListener("click", save);
  $("toggle").addEventListener("click", toggle);
  await loadList();
  const wanted = new URLSearchParams(location.search).get("rule");
  if (wanted) await show(wanted);
}

main();
