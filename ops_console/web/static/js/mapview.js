// The map's viewport: which part of the city the drawing shows, and how large. Pure.
//
// Points of the whole-city drawing ("base", 0..width × 0..height) are shown at
// (base − origin) × zoom. Zooming and panning move the origin so that the view never leaves
// the city; markers are drawn at a fixed size whatever the zoom.

export const MAX_ZOOM = 64;

export class View {
  constructor(width, height) {
    this.width = width;
    this.height = height;
    this.reset();
  }

  reset() { this.zoom = 1; this.x0 = 0; this.y0 = 0; }

  apply([x, y]) { return [(x - this.x0) * this.zoom, (y - this.y0) * this.zoom]; }

  invert([x, y]) { return [x / this.zoom + this.x0, y / this.zoom + this.y0]; }

  // Zoom by `factor`, keeping the drawn point `at` where it is (the pointer, the centre).
  zoomAt(factor, at = [this.width / 2, this.height / 2]) {
    const [bx, by] = this.invert(at);
    this.zoom = Math.min(MAX_ZOOM, Math.max(1, this.zoom * factor));
    this.x0 = bx - at[0] / this.zoom;
    this.y0 = by - at[1] / this.zoom;
    this.clamp();
  }

  // Move the view by a drag of (dx, dy) in drawing units.
  pan(dx, dy) {
    this.x0 -= dx / this.zoom;
    this.y0 -= dy / this.zoom;
    this.clamp();
  }

  // The zoom that shows the base box (x0, y0)–(x1, y1) as large as fits, `margin` around it.
  fitZoom(x0, y0, x1, y1, margin = 40) {
    const w = Math.max(x1 - x0, 1e-6), h = Math.max(y1 - y0, 1e-6);
    return Math.min(MAX_ZOOM, Math.max(1,
      Math.min((this.width - 2 * margin) / w, (this.height - 2 * margin) / h)));
  }

  // Show the base point (x, y) in the middle at `zoom`.
  centreOn(x, y, zoom) {
    this.zoom = Math.min(MAX_ZOOM, Math.max(1, zoom));
    this.x0 = x - this.width / 2 / this.zoom;
    this.y0 = y - this.height / 2 / this.zoom;
    this.clamp();
  }

  clamp() {
    this.x0 = Math.min(Math.max(this.x0, 0), this.width - this.width / this.zoom);
    this.y0 = Math.min(Math.max(this.y0, 0), this.height - this.height / this.zoom);
  }
}
