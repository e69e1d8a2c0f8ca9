// The map's tooltip: a device (id, kind, status, last reading) or a cluster (count, kinds).
// Built from text nodes only (device ids come from vendors) and placed with element.style,
// which a strict Content-Security-Policy allows.
import { kindsOf } from "./cluster.js";
import { t } from "./i18n.js";

// The reading a tooltip shows first for each kind.
const HEADLINE = { air_quality: "pm10", smart_meter: "power_kw", cctv: "person_count" };

function label(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

export function kindLabel(kind) { return label(`kind.${kind}`, kind); }

export function statusLabel(connection) {
  if (connection === "online") return t("legend.online");
  if (connection === "offline") return t("legend.offline");
  return t("legend.never");
}

// The device's latest reading worth showing: {metric, value, ts} or null.
export function lastReading(device) {
  const latest = device.latest || {};
  const metric = HEADLINE[device.kind] in latest ? HEADLINE[device.kind] : Object.keys(latest)[0];
  return metric ? { metric, ...latest[metric] } : null;
}

function line(text, cls = "") {
  const node = document.createElement("div");
  if (cls) node.className = cls;
  node.textContent = text;
  return node;
}

export class Tip {
  constructor(container) {
    this.container = container;
    this.node = document.createElement("div");
    this.node.className = "map-tip";
    this.node.id = "map-tip";
    this.node.setAttribute("role", "tooltip");
    this.node.dataset.testid = "map-tip";
    this.node.hidden = true;
    container.append(this.node);
    this.subject = null; // what the tooltip is showing: a device object or a cluster group
  }

  showDevice(device, anchor) {
    this.subject = device;
    const reading = lastReading(device);
    const when = reading?.ts ? ` · ${new Date(reading.ts).toLocaleTimeString()}` : "";
    this.node.replaceChildren(
      line(device.id, "tip-title"),
      line(`${kindLabel(device.kind)} · ${device.zone || "—"}`),
      line(statusLabel(device.connection), `tip-status conn-${device.connection || "never"}`),
      line(reading ? `${reading.metric} ${reading.value}${when}` : t("map.no_reading"), "tip-reading"),
    );
    this.place(anchor);
  }

  showCluster(group, anchor) {
    this.subject = group;
    const notOnline = group.members.filter((d) => d.connection !== "online").length;
    this.node.replaceChildren(
      line(t("map.cluster", { count: group.members.length }), "tip-title"),
      ...kindsOf(group.members).map(([kind, n]) => line(`${kindLabel(kind)} ${n}`, "tip-kind")),
      ...(notOnline ? [line(t("map.cluster_offline", { count: notOnline }), "tip-status conn-offline")] : []),
      line(t("map.cluster_hint"), "tip-hint"),
    );
    this.place(anchor);
  }

  hide() {
    this.subject = null;
    this.node.hidden = true;
  }

  place(anchor) {
    this.node.hidden = false;
    const box = this.container.getBoundingClientRect();
    const at = anchor.getBoundingClientRect();
    const width = this.node.offsetWidth, height = this.node.offsetHeight;
    let left = at.right - box.left + 8;
    if (left + width > box.width) left = at.left - box.left - width - 8;
    const top = Math.min(Math.max(at.top - box.top - 4, 0), Math.max(box.height - height, 0));
    this.node.style.left = `${Math.max(left, 0)}px`;
    this.node.style.top = `${top}px`;
  }
}
