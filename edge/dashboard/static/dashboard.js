// pcinspect operator dashboard: polls /api/state and renders it; the 3D region view is a plain 2D canvas.
"use strict";

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

function fmt(value, digits = 3) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function clock(ts) {
  return ts ? new Date(ts * 1000).toLocaleTimeString() : "–";
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

// Score -> colour: green below the threshold (0.5), through yellow, to red at 1 and above.
function scoreColour(score) {
  const t = Math.max(0, Math.min(1, score));
  const hue = t < 0.5 ? 120 - 60 * (t / 0.5) : 60 - 60 * ((t - 0.5) / 0.5);
  return `hsl(${hue}, 85%, 50%)`;
}

function render(state) {
  $("station").textContent = state.station;
  const health = state.health;
  $("state").textContent = health.state;
  $("state").className = "state " + health.state;
  $("bundle").textContent = Object.entries(health.bundle).map(([r, b]) => `${r}: ${b}`).join("  ");
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("yield").textContent = state.yield === null ? "–" : (100 * state.yield).toFixed(1) + " %";
  for (const result of ["PASS", "FAIL", "ERROR"]) $("count-" + result).textContent = state.counts[result];
  $("latency").textContent = `${fmt(health.latency_p50_ms, 0)} / ${fmt(health.latency_p99_ms, 0)} ms`;
  $("queue").textContent = health.queue ?? "–";
  $("shift").textContent = new Date(state.shift_start).toLocaleString();

  const body = $("verdicts");
  body.replaceChildren();
  for (const v of state.recent) {
    const tr = document.createElement("tr");
    tr.dataset.seq = v.seq;
    tr.className = "verdict";
    cell(tr, v.seq);
    cell(tr, v.part_id ?? "–", "part");
    cell(tr, v.recipe ?? "–");
    cell(tr, v.verdict, v.verdict);
    cell(tr, fmt(v.score));
    cell(tr, clock(v.ts_out));
    cell(tr, v.reason ?? "", "reason");
    body.appendChild(tr);
  }

  const failed = $("failed");
  failed.replaceChildren();
  for (const v of state.failed) {
    const li = document.createElement("li");
    li.dataset.seq = v.seq;
    const thumb = document.createElement("canvas");
    thumb.width = 64;
    thumb.height = 48;
    li.appendChild(thumb);
    const text = document.createElement("span");
    text.textContent = `${v.part_id}  score ${fmt(v.score)}  ${v.regions} region(s)  ${clock(v.ts_out)}`;
    li.appendChild(text);
    li.addEventListener("click", () => { location.hash = `seq=${v.seq}`; });
    failed.appendChild(li);
    fetchVerdict(v.seq).then((full) => full && new RegionView(thumb, full.regions, false).draw());
  }
}

const verdictCache = new Map();
async function fetchVerdict(seq) {
  if (!verdictCache.has(seq)) {
    const reply = await fetch(`/api/verdict/${seq}`);
    verdictCache.set(seq, reply.ok ? await reply.json() : null);
  }
  return verdictCache.get(seq);
}

// Region boxes (centroid, extent in mm) projected orthographically; drag rotates, wheel zooms.
class RegionView {
  constructor(canvas, regions, interactive) {
    this.canvas = canvas;
    this.regions = regions;
    this.yaw = 0.6;
    this.pitch = 0.5;
    this.zoom = 1;
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (const r of regions) for (let a = 0; a < 3; a++) {
      lo[a] = Math.min(lo[a], r.centroid[a] - r.extent[a] / 2);
      hi[a] = Math.max(hi[a], r.centroid[a] + r.extent[a] / 2);
    }
    this.centre = regions.length ? lo.map((l, a) => (l + hi[a]) / 2) : [0, 0, 0];
    this.size = regions.length ? Math.max(1e-3, ...hi.map((h, a) => h - lo[a])) : 1;
    if (interactive) this.listen();
  }

  project(p) {
    const [x, y, z] = p.map((v, a) => v - this.centre[a]);
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    const x1 = cy * x + sy * y, y1 = -sy * x + cy * y;
    const y2 = cp * y1 - sp * z, z2 = sp * y1 + cp * z;
    const scale = (0.7 * Math.min(this.canvas.width, this.canvas.height) / this.size) * this.zoom;
    return [this.canvas.width / 2 + scale * x1, this.canvas.height / 2 - scale * z2, y2];
  }

  draw() {
    const g = this.canvas.getContext("2d");
    g.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.axes(g);
    const sorted = [...this.regions].sort((a, b) => this.project(b.centroid)[2] - this.project(a.centroid)[2]);
    for (const r of sorted) this.box(g, r);
  }

  axes(g) {
    const o = this.project(this.centre), names = ["x", "y", "z"], colours = ["#e57373", "#81c784", "#64b5f6"];
    for (let a = 0; a < 3; a++) {
      const tip = [...this.centre];
      tip[a] += this.size / 3;
      const p = this.project(tip);
      g.strokeStyle = colours[a];
      g.beginPath(); g.moveTo(o[0], o[1]); g.lineTo(p[0], p[1]); g.stroke();
      if (this.canvas.width > 100) { g.fillStyle = colours[a]; g.fillText(names[a], p[0] + 3, p[1]); }
    }
  }

  box(g, region) {
    const c = region.centroid, h = region.extent.map((e) => e / 2), corners = [];
    for (const sx of [-1, 1]) for (const sy of [-1, 1]) for (const sz of [-1, 1])
      corners.push(this.project([c[0] + sx * h[0], c[1] + sy * h[1], c[2] + sz * h[2]]));
    const edges = [[0, 1], [0, 2], [0, 4], [1, 3], [1, 5], [2, 3], [2, 6], [3, 7], [4, 5], [4, 6], [5, 7], [6, 7]];
    const colour = scoreColour(region.peak);
    g.strokeStyle = colour;
    g.lineWidth = this.canvas.width > 100 ? 2 : 1;
    g.beginPath();
    for (const [i, j] of edges) { g.moveTo(corners[i][0], corners[i][1]); g.lineTo(corners[j][0], corners[j][1]); }
    g.stroke();
    const m = this.project(c);
    g.fillStyle = colour;
    g.beginPath(); g.arc(m[0], m[1], this.canvas.width > 100 ? 4 : 2, 0, 2 * Math.PI); g.fill();
    if (region.kind === "missing") { g.setLineDash([4, 3]); g.stroke(); g.setLineDash([]); }
  }

  listen() {
    let last = null;
    this.canvas.onpointerdown = (e) => { last = [e.clientX, e.clientY]; this.canvas.setPointerCapture(e.pointerId); };
    this.canvas.onpointerup = () => { last = null; };
    this.canvas.onpointermove = (e) => {
      if (!last) return;
      this.yaw += (e.clientX - last[0]) * 0.01;
      this.pitch += (e.clientY - last[1]) * 0.01;
      last = [e.clientX, e.clientY];
      this.draw();
    };
    this.canvas.onwheel = (e) => { e.preventDefault(); this.zoom *= e.deltaY < 0 ? 1.1 : 1 / 1.1; this.draw(); };
  }
}

async function openViewer(seq) {
  const verdict = await fetchVerdict(seq);
  if (!verdict) return;
  $("viewer-title").textContent =
    `${verdict.part_id} (frame ${verdict.frame_id}, seq ${verdict.seq}): ${verdict.verdict}, score ${fmt(verdict.score)}`;
  const rows = $("viewer-regions");
  rows.replaceChildren();
  for (const r of verdict.regions) {
    const tr = document.createElement("tr");
    cell(tr, r.kind);
    cell(tr, r.centroid.map((v) => v.toFixed(1)).join(", "));
    cell(tr, r.extent.map((v) => v.toFixed(1)).join(" × "));
    cell(tr, r.points);
    cell(tr, fmt(r.peak));
    rows.appendChild(tr);
  }
  $("viewer").showModal();
  $("viewer").addEventListener("close", () => history.replaceState(null, "", location.pathname), { once: true });
  new RegionView($("viewer-canvas"), verdict.regions, true).draw();
}

// A failed part's view has its own address (/#seq=N): the list sets it, and a bookmarked one opens on load.
function openFromHash() {
  const match = /^#seq=(\d+)$/.exec(location.hash);
  if (match && !$("viewer").open) openViewer(Number(match[1]));
}
window.addEventListener("hashchange", openFromHash);

let first = true;
async function poll() {
  try {
    const reply = await fetch("/api/state", { cache: "no-store" });
    if (reply.ok) render(await reply.json());
    if (first) { first = false; openFromHash(); }
  } catch (err) {
    $("state").textContent = "dashboard offline";
    $("state").className = "state unreachable";
  }
  setTimeout(poll, POLL_MS);
}

poll();
