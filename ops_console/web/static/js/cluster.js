// Grouping map markers that would overlap at the current zoom. Pure: points in, groups out.
//
// Every point starts as its own group; groups closer than `radius` (in drawing units) merge
// into one at their weighted centre, pass after pass, until a pass merges nothing. A grid of
// `radius`-sized cells keeps each pass linear. When it ends, any two groups are at least
// `radius` apart, so neither markers nor cluster badges sit on top of each other.

export function cluster(points, radius) {
  let groups = points.map((p) => ({ x: p.x, y: p.y, members: [p] }));
  for (;;) {
    const merged = mergeOnce(groups, radius);
    if (merged.length === groups.length) return merged;
    groups = merged;
  }
}

function mergeOnce(groups, radius) {
  const cells = new Map();
  const out = [];
  for (const g of groups) {
    const i = Math.floor(g.x / radius), j = Math.floor(g.y / radius);
    let target = null, best = radius;
    for (let di = -1; di <= 1; di++) {
      for (let dj = -1; dj <= 1; dj++) {
        for (const c of cells.get(`${i + di},${j + dj}`) || []) {
          const d = Math.hypot(c.x - g.x, c.y - g.y);
          if (d < best) { best = d; target = c; }
        }
      }
    }
    if (target) {
      const n = target.members.length, m = g.members.length;
      target.x = (target.x * n + g.x * m) / (n + m);
      target.y = (target.y * n + g.y * m) / (n + m);
      target.members = target.members.concat(g.members);
    } else {
      const copy = { x: g.x, y: g.y, members: g.members };
      const key = `${i},${j}`;
      if (cells.has(key)) cells.get(key).push(copy); else cells.set(key, [copy]);
      out.push(copy);
    }
  }
  return out;
}

// The kinds in a group, most numerous first: [["smart_meter", 6], ["air_quality", 3], …].
export function kindsOf(members) {
  const counts = new Map();
  for (const m of members) counts.set(m.kind, (counts.get(m.kind) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])));
}
