// The city map in SVG, no tile server: district cells from /static/zones.json, devices
// placed by their coordinates (or their district's point), coloured by connection and
// by the station's CAI category (좋음, 보통, 나쁨, 매우나쁨) on its hourly PM10 and PM2.5
// means, from GET /api/v1/rules/cai (analytics/cai.py, docs/analytics.md): not one reading.
// Markers that would overlap at the current zoom are drawn as one cluster with a count
// (cluster.js); wheel, buttons, dragging and a click on a cluster zoom and pan (mapview.js);
// hovering or focusing a marker shows a tooltip (maptip.js).
import { api } from "./api.js";
import { cluster } from "./cluster.js";
import { language, t } from "./i18n.js";
import { Tip, statusLabel } from "./maptip.js";
import { View } from "./mapview.js";

const NS = "http://www.w3.org/2000/svg";
const W = 800, H = 620, PAD = 14;
const MARKER_R = 7;
// Markers closer than this (drawing units) are clustered: two markers and a little air.
const CLUSTER_RADIUS = 26;
const DRAG_PX = 4;
export const CATEGORIES = ["good", "moderate", "unhealthy", "very_unhealthy"];
const RANK = { nodata: -1, good: 0, moderate: 1, unhealthy: 2, very_unhealthy: 3 };

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// The API's CAI category names → the map's (and its legend's and stylesheet's).
const CAI = { good: "good", moderate: "moderate", bad: "unhealthy", very_bad: "very_unhealthy" };
// Categories are fetched again this long after new readings arrive, and at least this often.
const CAI_DELAY_MS = 1500, CAI_EVERY_MS = 60_000;

function categoryOf(device) {
  return device.kind === "air_quality" ? device.cai || "nodata" : "nodata";
}

export class CityMap {
  // loadDetail(id) → a promise of the device's detail (its latest readings), for the tooltip.
  constructor(svg, zones, onSelect, { loadDetail = null } = {}) {
    this.svg = svg;
    this.zones = zones.zones;
    this.river = zones.river || [];
    this.onSelect = onSelect;
    this.loadDetail = loadDetail;
    this.devices = new Map();
    this.groups = [];
    this.selected = null;
    this.caiTimer = null;
    setInterval(() => this.loadCai(), CAI_EVERY_MS);
    const pts = this.zones.flatMap((z) => z.polygon);
    this.lat0 = Math.min(...pts.map((p) => p[0])); this.lat1 = Math.max(...pts.map((p) => p[0]));
    this.lon0 = Math.min(...pts.map((p) => p[1])); this.lon1 = Math.max(...pts.map((p) => p[1]));
    this.k = Math.cos((((this.lat0 + this.lat1) / 2) * Math.PI) / 180);
    const sx = (W - 2 * PAD) / ((this.lon1 - this.lon0) * this.k), sy = (H - 2 * PAD) / (this.lat1 - this.lat0);
    this.scale = Math.min(sx, sy);
    this.zoneById = new Map(this.zones.map((z) => [z.id, z]));
    this.view = new View(W, H);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    this.zoneLayer = el("g", { class: "zones" }, svg);
    this.deviceLayer = el("g", { class: "devices" }, svg);
    this.clusterLayer = el("g", { class: "clusters" }, svg);
    // A frame around the drawing holds the zoom buttons and the tooltip, placed over it.
    let frame = svg.parentElement;
    if (!frame.classList.contains("map-frame")) {
      frame = document.createElement("div");
      frame.className = "map-frame";
      svg.before(frame);
      frame.append(svg);
    }
    frame.replaceChildren(svg);
    this.frame = frame;
    this.tip = new Tip(frame);
    this.controls();
    this.interactions();
    this.draw();
  }

  // Whole-city drawing coordinates of a point, before zoom.
  base(lat, lon) {
    return [PAD + (lon - this.lon0) * this.k * this.scale, PAD + (this.lat1 - lat) * this.scale];
  }

  xy(lat, lon) { return this.view.apply(this.base(lat, lon)); }

  basePosition(device) {
    if (device.lat != null && device.lon != null) return this.base(device.lat, device.lon);
    const zone = this.zoneById.get(device.zone);
    return zone ? this.base(...zone.label) : [W - 30, H - 30];
  }

  position(device) { return this.view.apply(this.basePosition(device)); }

  draw() {
    this.zoneLayer.replaceChildren();
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
    this.colourZones();
    this.layout();
    this.svg.dataset.zoom = this.view.zoom.toFixed(2);
  }

  relabel() {
    for (const { poly, label, zone } of this.zoneNodes.values()) {
      label.textContent = zone.name[language()] || zone.id;
      poly.querySelector("title").textContent = label.textContent;
    }
    for (const device of this.devices.values()) this.paint(device);
    for (const group of this.groups) this.paintCluster(group);
    for (const b of this.controlBar.querySelectorAll("button")) {
      b.title = t(b.dataset.i18nTitle);
      b.setAttribute("aria-label", b.title);
    }
  }

  setDevices(list) {
    for (const d of list) this.devices.set(d.id, { pm10: null, ...this.devices.get(d.id), ...d });
    for (const device of this.devices.values()) if (!device.node) this.drawDevice(device);
    this.layout();
    this.colourZones();
    this.scheduleCai(0);
  }

  // Readings came in: ask for the categories once the burst is over.
  scheduleCai(delay = CAI_DELAY_MS) {
    if (this.caiTimer !== null) return;
    this.caiTimer = setTimeout(() => { this.caiTimer = null; this.loadCai(); }, delay);
  }

  async loadCai() {
    const { stations } = await api("/api/v1/rules/cai").catch(() => ({ stations: null }));
    if (!stations) return;
    for (const device of this.devices.values()) {
      if (device.kind !== "air_quality") continue;
      const cai = CAI[stations[device.id]?.category] || "nodata";
      if (cai !== device.cai) { device.cai = cai; this.paint(device); }
    }
    this.colourZones();
  }

  drawDevice(device) {
    const node = el("circle", { r: MARKER_R, "data-device": device.id, tabindex: 0 }, this.deviceLayer);
    node.addEventListener("click", () => { if (!this.dragged) this.onSelect(device.id); });
    node.addEventListener("keydown", (e) => { if (e.key === "Enter") this.onSelect(device.id); });
    for (const on of ["pointerenter", "focus"]) node.addEventListener(on, () => this.showDevice(device));
    for (const off of ["pointerleave", "blur"]) node.addEventListener(off, () => this.tip.hide());
    device.node = node;
    this.paint(device);
  }

  // Place every marker at the current zoom, and cluster those that would overlap.
  layout() {
    const points = [];
    for (const device of this.devices.values()) {
      if (!device.node) continue;
      const [x, y] = this.position(device);
      device.node.setAttribute("cx", x);
      device.node.setAttribute("cy", y);
      points.push({ x, y, id: device.id, kind: device.kind, device });
    }
    this.groups = cluster(points, CLUSTER_RADIUS);
    this.clusterLayer.replaceChildren();
    for (const group of this.groups) {
      const solo = group.members.length === 1;
      for (const m of group.members) {
        m.device.node.classList.toggle("clustered", !solo);
        m.device.group = solo ? null : group;
      }
      if (!solo) this.drawCluster(group);
    }
    if (this.tip.subject && !this.tip.subject.members) {
      const d = this.tip.subject;
      if (d.group) this.tip.hide(); else this.tip.place(d.node);
    } else if (this.tip.subject) {
      this.tip.hide();
    }
  }

  drawCluster(group) {
    const n = group.members.length;
    const node = el("g", {
      class: "cluster", tabindex: 0, role: "button", "data-count": n,
      transform: `translate(${group.x.toFixed(1)} ${group.y.toFixed(1)})`,
    }, this.clusterLayer);
    el("circle", { r: Math.min(10 + Math.log2(n) * 1.5, 16) }, node);
    el("text", { class: "cluster-count", "text-anchor": "middle", dy: "0.35em" }, node).textContent = String(n);
    node.addEventListener("click", () => { if (!this.dragged) this.zoomTo(group); });
    node.addEventListener("keydown", (e) => { if (e.key === "Enter") this.zoomTo(group); });
    for (const on of ["pointerenter", "focus"]) node.addEventListener(on, () => this.tip.showCluster(group, node));
    for (const off of ["pointerleave", "blur"]) node.addEventListener(off, () => this.tip.hide());
    group.node = node;
    this.paintCluster(group);
  }

  paint(device) {
    if (!device.node) return;
    const cat = categoryOf(device);
    const connection = device.connection || "never";
    device.node.setAttribute("class", `device cat-${cat} conn-${connection}${device.group ? " clustered" : ""}${device.id === this.selected ? " selected" : ""}`);
    device.node.dataset.category = cat;
    device.node.dataset.connection = connection;
    device.node.setAttribute("aria-label", `${device.id} · ${statusLabel(device.connection)}`);
    if (device.group) this.paintCluster(device.group);
    if (this.tip.subject === device) this.tip.showDevice(device, device.node);
  }

  // A cluster takes the worst CAI category of its stations; dashed when one is not online.
  paintCluster(group) {
    if (!group.node) return;
    let worst = "nodata";
    for (const m of group.members) {
      const cat = categoryOf(m.device);
      if (RANK[cat] > RANK[worst]) worst = cat;
    }
    const partial = group.members.some((m) => m.device.connection !== "online");
    const selected = group.members.some((m) => m.id === this.selected);
    group.node.setAttribute("class", `cluster cat-${worst}${partial ? " conn-partial" : ""}${selected ? " selected" : ""}`);
    group.node.setAttribute("aria-label", t("map.cluster", { count: group.members.length }));
  }

  update(id, change) {
    const device = this.devices.get(id);
    if (!device) return;
    if (change.latest) change = { ...change, latest: { ...device.latest, ...change.latest } };
    Object.assign(device, change);
    if (device.kind === "air_quality" && ("pm10" in change || "latest" in change)) this.scheduleCai();
    this.paint(device);
    this.colourZones();
  }

  showDevice(device) {
    this.tip.showDevice(device, device.node);
    if (!device.latest && this.loadDetail && !device.loading) {
      device.loading = true;
      this.loadDetail(device.id).then((detail) => {
        const latest = Object.fromEntries((detail.latest || []).map((r) => [r.metric, { value: r.value, ts: r.ts }]));
        this.update(device.id, { latest });
      }).catch(() => { device.loading = false; });
    }
  }

  colourZones() {
    if (!this.zoneNodes) return;
    const worst = new Map();
    for (const d of this.devices.values()) {
      if (d.kind !== "air_quality") continue;
      const cat = categoryOf(d);
      if (RANK[cat] > RANK[worst.get(d.zone) || "nodata"]) worst.set(d.zone, cat);
    }
    for (const [id, { poly }] of this.zoneNodes) {
      poly.setAttribute("class", `zone cat-${worst.get(id) || "nodata"}`);
    }
  }

  highlight(id) {
    this.selected = id;
    for (const d of this.devices.values()) d.node?.classList.toggle("selected", d.id === id);
    for (const g of this.groups) this.paintCluster(g);
  }

  // -- zoom and pan ----------------------------------------------------------------------
  // Zoom in on a cluster, doubling the zoom until each of its devices stands alone (at most
  // until they fill the view), centred on them: the district stays in sight around them.
  zoomTo(group) {
    const pts = group.members.map((m) => this.basePosition(m.device));
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const [x0, y0, x1, y1] = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    const most = Math.max(this.view.fitZoom(x0, y0, x1, y1), this.view.zoom * 2);
    let zoom = this.view.zoom * 2;
    const apart = (z) => cluster(pts.map(([x, y]) => ({ x: x * z, y: y * z })), CLUSTER_RADIUS).length === pts.length;
    while (zoom < most && !apart(zoom)) zoom *= 2;
    this.view.centreOn((x0 + x1) / 2, (y0 + y1) / 2, Math.min(zoom, most));
    this.tip.hide();
    this.draw();
  }

  zoomBy(factor, at) {
    this.view.zoomAt(factor, at);
    this.draw();
  }

  // Pointer position in drawing units.
  toDrawing(event) {
    const box = this.svg.getBoundingClientRect();
    const s = Math.max(W / box.width, H / box.height); // the viewBox is fitted, aspect kept
    return [(event.clientX - box.left - (box.width - W / s) / 2) * s,
      (event.clientY - box.top - (box.height - H / s) / 2) * s];
  }

  controls() {
    const bar = document.createElement("div");
    bar.className = "map-controls";
    const button = (key, text, action) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.dataset.testid = `map-${key}`;
      b.dataset.i18nTitle = `map.${key}`;
      b.title = t(`map.${key}`);
      b.setAttribute("aria-label", t(`map.${key}`));
      b.addEventListener("click", action);
      return b;
    };
    bar.append(
      button("zoom_in", "+", () => this.zoomBy(2)),
      button("zoom_out", "−", () => this.zoomBy(0.5)),
      button("zoom_reset", "⤢", () => { this.view.reset(); this.draw(); }),
    );
    this.controlBar = bar;
    this.frame.append(bar);
  }

  interactions() {
    this.svg.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.zoomBy(Math.pow(1.25, -Math.sign(event.deltaY)), this.toDrawing(event));
    }, { passive: false });
    this.svg.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      this.dragged = false;
      let last = this.toDrawing(event);
      const start = [event.clientX, event.clientY];
      const move = (e) => {
        if (!this.dragged && Math.hypot(e.clientX - start[0], e.clientY - start[1]) < DRAG_PX) return;
        this.dragged = true;
        const now = this.toDrawing(e);
        this.view.pan(now[0] - last[0], now[1] - last[1]);
        last = now;
        this.draw();
      };
      const up = () => {
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", up);
        // The click that ends a drag is not a selection; let it pass, then forget the drag.
        setTimeout(() => { this.dragged = false; }, 0);
      };
      window.addEventListener("pointermove", move);
      window.addEventListener("pointerup", up);
    });
  }
}
