// The city map in SVG, no tile server: district cells from /static/zones.json, devices
// placed by their coordinates (or their district's point), coloured by connection and
// by the Korean PM10 category (좋음 ≤30, 보통 ≤80, 나쁨 ≤150, 매우나쁨 >150 µg/m³).
import { language, t } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const W = 800, H = 620, PAD = 14;
export const CATEGORIES = ["good", "moderate", "unhealthy", "very_unhealthy"];
const RANK = { nodata: -1, good: 0, moderate: 1, unhealthy: 2, very_unhealthy: 3 };

export function pm10Category(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "nodata";
  if (value <= 30) return "good";
  if (value <= 80) return "moderate";
  if (value <= 150) return "unhealthy";
  return "very_unhealthy";
}

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

export class CityMap {
  constructor(svg, zones, onSelect) {
    this.svg = svg;
    this.zones = zones.zones;
    this.river = zones.river || [];
    this.onSelect = onSelect;
    this.devices = new Map();
    const pts = this.zones.flatMap((z) => z.polygon);
    this.lat0 = Math.min(...pts.map((p) => p[0])); this.lat1 = Math.max(...pts.map((p) => p[0]));
    this.lon0 = Math.min(...pts.map((p) => p[1])); this.lon1 = Math.max(...pts.map((p) => p[1]));
    this.k = Math.cos((((this.lat0 + this.lat1) / 2) * Math.PI) / 180);
    const sx = (W - 2 * PAD) / ((this.lon1 - this.lon0) * this.k), sy = (H - 2 * PAD) / (this.lat1 - this.lat0);
    this.scale = Math.min(sx, sy);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    this.draw();
  }

  xy(lat, lon) {
    return [PAD + (lon - this.lon0) * this.k * this.scale, PAD + (this.lat1 - lat) * this.scale];
  }

  draw() {
    this.svg.replaceChildren();
    this.zoneLayer = el("g", { class: "zones" }, this.svg);
    this.zoneNodes = new Map();
    for (const zone of this.zones) {
      const points = zone.polygon.map(([la, lo]) => this.xy(la, lo).join(",")).join(" ");
      const poly = el("polygon", { points, class: "zone cat-nodata", "data-zone": zone.id }, this.zoneLayer);
      el("title", {}, poly).textContent = zone.name[language()] || zone.id;
      const [x, y] = this.xy(...zone.label);
      const label = el("text", { x, y: y - 9, class: "zone-label" }, this.zoneLayer);
      label.textContent = zone.name[language()] || zone.id;
      this.zoneNodes.set(zone.id, { poly, label, zone });
    }
    if (this.river.length) {
      el("polyline", { points: this.river.map(([la, lo]) => this.xy(la, lo).join(",")).join(" "), class: "river" }, this.zoneLayer);
    }
    this.deviceLayer = el("g", { class: "devices" }, this.svg);
    for (const device of this.devices.values()) this.drawDevice(device);
  }

  relabel() {
    for (const { poly, label, zone } of this.zoneNodes.values()) {
      label.textContent = zone.name[language()] || zone.id;
      poly.querySelector("title").textContent = label.textContent;
    }
  }

  position(device) {
    if (device.lat != null && device.lon != null) return this.xy(device.lat, device.lon);
    const z = this.zoneNodes.get(device.zone);
    if (z) return this.xy(...z.zone.label);
    return [W - 30, H - 30];
  }

  setDevices(list) {
    for (const d of list) this.devices.set(d.id, { pm10: null, ...this.devices.get(d.id), ...d });
    this.deviceLayer.replaceChildren();
    for (const device of this.devices.values()) this.drawDevice(device);
    this.colourZones();
  }

  drawDevice(device) {
    const [x, y] = this.position(device);
    const node = el("circle", { cx: x, cy: y, r: 7, "data-device": device.id, tabindex: 0 }, this.deviceLayer);
    el("title", {}, node);
    node.addEventListener("click", () => this.onSelect(device.id));
    device.node = node;
    this.paint(device);
  }

  paint(device) {
    if (!device.node) return;
    const cat = device.kind === "air_quality" ? pm10Category(device.pm10) : "nodata";
    device.node.setAttribute("class", `device cat-${cat} conn-${device.connection || "never"}`);
    device.node.dataset.category = cat;
    device.node.dataset.connection = device.connection || "never";
    const value = device.pm10 != null ? ` · PM10 ${device.pm10}` : "";
    device.node.querySelector("title").textContent = `${device.id} (${device.kind}) · ${t("legend." + (device.connection === "online" ? "online" : "offline"))}${value}`;
  }

  update(id, change) {
    const device = this.devices.get(id);
    if (!device) return;
    Object.assign(device, change);
    this.paint(device);
    this.colourZones();
  }

  colourZones() {
    const worst = new Map();
    for (const d of this.devices.values()) {
      if (d.kind !== "air_quality") continue;
      const cat = pm10Category(d.pm10);
      if (RANK[cat] > RANK[worst.get(d.zone) || "nodata"]) worst.set(d.zone, cat);
    }
    for (const [id, { poly }] of this.zoneNodes) {
      poly.setAttribute("class", `zone cat-${worst.get(id) || "nodata"}`);
    }
  }

  highlight(id) {
    for (const d of this.devices.values()) d.node?.classList.toggle("selected", d.id === id);
  }
}
