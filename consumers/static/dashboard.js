// The microcv dashboard: plain JS against the query API, no build step.
// The read token lives in sessionStorage and travels only in the Authorization header; that is
// why the live stream is read with fetch() rather than EventSource (which cannot send headers,
// and a token in the URL would end up in logs).
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#3b5bdb", "#2f9e44", "#f08c00", "#ae3ec9", "#1098ad", "#e03131", "#5c940d"];
const fmt = new Intl.NumberFormat();
const pct = (x) => (x == null ? "–" : `${(100 * x).toFixed(1)} %`);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const state = {
  site: sessionStorage.getItem("mcv.site") || new URLSearchParams(location.search).get("site") || "",
  token: sessionStorage.getItem("mcv.token") || "",
  window: sessionStorage.getItem("mcv.window") || "24h",
  meta: null, stream: null, chart: null, picked: null, lastRefresh: 0, refreshTimer: 0,
};

class ApiError extends Error {
  constructor(status, body) { super(body.error || `HTTP ${status}`); this.status = status; }
}

async function api(path, params = {}) {
  const q = new URLSearchParams({ ...params }).toString();
  const resp = await fetch(`/v1/sites/${encodeURIComponent(state.site)}${path}${q ? "?" + q : ""}`, {
    headers: { Authorization: `Bearer ${state.token}` },
  });
  if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => ({})));
  return resp;
}
const json = async (path, params) => (await api(path, params)).json();

// -- sign-in -------------------------------------------------------------------------------------

function showLogin(message = "") {
  stopStream();
  $("board").hidden = true; $("controls").hidden = true; $("login").hidden = false;
  $("login-site").value = state.site; $("login-error").textContent = message;
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  state.site = $("login-site").value.trim();
  state.token = $("login-token").value;
  await open_();
});

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem("mcv.token"); state.token = ""; showLogin();
});

async function open_() {
  try {
    state.meta = await json("");
  } catch (err) {
    const why = { 401: "A read token is needed.", 403: "This token may not read this site.",
      404: "No site with this id." }[err.status] || "The API did not answer; try again.";
    showLogin(why);
    return;
  }
  sessionStorage.setItem("mcv.site", state.site);
  sessionStorage.setItem("mcv.token", state.token);
  $("login").hidden = true; $("board").hidden = false; $("controls").hidden = false;
  $("site-name").textContent = state.site;
  $("window").value = state.window;
  setupPickers();
  startStream();
  refresh();
}

$("window").addEventListener("change", () => {
  state.window = $("window").value;
  sessionStorage.setItem("mcv.window", state.window);
  startStream();
  refresh();
});

// -- the live stream -----------------------------------------------------------------------------

function setLive(mode, text) {
  $("live").className = `live ${mode}`;
  $("live").querySelector("span").textContent = text;
}

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

async function startStream() {
  stopStream();
  const ctrl = new AbortController();
  state.stream = ctrl;
  setLive("", "connecting");
  while (!ctrl.signal.aborted) {
    try {
      const resp = await fetch(
        `/v1/sites/${encodeURIComponent(state.site)}/stream?window=${state.window}`,
        { headers: { Authorization: `Bearer ${state.token}` }, signal: ctrl.signal });
      if (resp.status === 401 || resp.status === 403) return showLogin("The token was refused.");
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      setLive("on", "live");
      await readEvents(resp.body, ctrl.signal);
    } catch (err) {
      if (ctrl.signal.aborted) return;
    }
    setLive("off", "reconnecting");
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (name === "counters") { $("down").hidden = true; onCounters(JSON.parse(data)); }
      else if (name === "unavailable") $("down").hidden = false;
    }
  }
}

// -- live counters -------------------------------------------------------------------------------

function kpi(id, label, value, sub, main = false) {
  let el = document.querySelector(`.kpi[data-id="${CSS.escape(id)}"]`);
  if (!el) {
    el = document.createElement("div");
    el.className = `kpi${main ? " main" : ""}`; el.dataset.id = id;
    el.innerHTML = `<div class="label"></div><div class="value"></div><div class="sub"></div>`;
    $("kpis").append(el);
  }
  const text = fmt.format(value);
  const changed = el.querySelector(".value").textContent !== text && el.dataset.seen;
  el.querySelector(".label").textContent = label; el.querySelector(".label").title = label;
  el.querySelector(".value").textContent = text;
  el.querySelector(".sub").textContent = sub;
  el.dataset.seen = "1";
  if (changed) { el.classList.add("flash"); setTimeout(() => el.classList.remove("flash"), 700); }
}

function onCounters(body) {
  const c = body.counters;
  const empty = Object.keys(c).length === 0;
  $("empty").hidden = !empty;
  kpi("visitors", "Visitors", body.visitors, "unique, estimated", true);
  kpi("pageview", "Pageviews", c.pageview || 0,
    `${fmt.format(body.kinds.pageview?.visitors || 0)} visitors`);
  for (const [name, v] of Object.entries(body.conversions)) {
    kpi(`cv:${name}`, name.replaceAll("_", " "), v.count, `${fmt.format(v.visitors)} visitors`);
  }
  for (const kind of ["click", "download", "scroll"]) {
    if (!state.meta.conversions.length || c[kind]) {
      kpi(kind, `${kind}s`, c[kind] || 0, `${fmt.format(body.kinds[kind]?.visitors || 0)} visitors`);
    }
  }
  // The other panels follow the live numbers, at most every 3 s.
  clearTimeout(state.refreshTimer);
  const wait = Math.max(0, 3000 - (Date.now() - state.lastRefresh));
  state.refreshTimer = setTimeout(refresh, wait);
}

// -- panels --------------------------------------------------------------------------------------

function setupPickers() {
  const m = state.meta;
  const names = [...m.conversions.map((n) => `cv:${n}`), "pageview"];
  state.picked = state.picked || new Set(names.slice(0, 3));
  $("series-pick").innerHTML = names.map((n, i) => `<label class="chip${state.picked.has(n) ? " on" : ""}"
    style="color:${COLORS[i % COLORS.length]}"><input type="checkbox" value="${esc(n)}"
    ${state.picked.has(n) ? "checked" : ""}><i style="background:${COLORS[i % COLORS.length]}"></i>
    <span style="color:var(--ink)">${esc(n.replace(/^cv:/, ""))}</span></label>`).join("");
  $("series-pick").onchange = (e) => {
    const box = e.target;
    box.checked ? state.picked.add(box.value) : state.picked.delete(box.value);
    box.parentElement.classList.toggle("on", box.checked);
    drawSeries();
  };
  $("funnel-pick").innerHTML = m.funnels.map((f) => `<option>${esc(f.name)}</option>`).join("");
  $("funnel-pick").hidden = m.funnels.length < 2;
  $("dim-pick").innerHTML = m.breakdowns.map((d) => `<option>${esc(d)}</option>`).join("");
  for (const [id, draw] of [["funnel-pick", drawFunnel], ["dim-pick", drawBreakdown],
    ["scroll-pick", drawScroll], ["heat-pick", drawHeat]]) $(id).onchange = draw;
  $("origin").value = localStorage.getItem(`mcv.origin.${state.site}`) ||
    new URLSearchParams(location.search).get("origin") || "";
  $("origin").onchange = () => {
    localStorage.setItem(`mcv.origin.${state.site}`, $("origin").value.trim()); drawHeat();
  };
}

function emptyState(el, text) { el.innerHTML = `<div class="empty">${esc(text)}</div>`; }

async function refresh() {
  state.lastRefresh = Date.now();
  const tasks = [drawSeries(), drawFunnel(), drawExperiments(), drawLeads(), drawBreakdown(),
    drawScroll(), fillPages().then(drawHeat)];
  const results = await Promise.allSettled(tasks);
  const refused = results.find((r) => r.status === "rejected" && [401, 403].includes(r.reason.status));
  if (refused) showLogin("The token was refused.");
}

async function fillPages() {
  const pages = (await json("/breakdowns/page", { window: state.window, limit: 50 })).values;
  for (const id of ["heat-pick"]) {
    const sel = $(id), keep = sel.value;
    sel.innerHTML = pages.map((p) => `<option>${esc(p.value)}</option>`).join("");
    if (pages.some((p) => p.value === keep)) sel.value = keep;
  }
}

async function drawSeries() {
  const el = $("series");
  const names = [...state.picked];
  if (!names.length) { state.chart?.destroy(); state.chart = null; return emptyState(el, "Pick a series above."); }
  const body = await json("/series", { window: state.window, names: names.join(",") });
  const all = [...document.querySelectorAll("#series-pick input")].map((i) => i.value);
  const data = [body.timestamps.map((t) => t / 1000), ...names.map((n) => body.series[n])];
  const opts = {
    width: Math.max(280, el.clientWidth), height: 240,
    scales: { x: { time: true } },
    axes: [{ stroke: "#6b7585", grid: { stroke: "#f1f3f5" } },
      { stroke: "#6b7585", grid: { stroke: "#f1f3f5" }, size: 44 }],
    legend: { show: false },
    series: [{}, ...names.map((n) => {
      const color = COLORS[all.indexOf(n) % COLORS.length];
      return { label: n, stroke: color, width: 2, fill: color + "14",
        points: { show: body.timestamps.length < 80 } };
    })],
  };
  state.chart?.destroy();
  el.innerHTML = "";
  state.chart = new uPlot(opts, data, el);
}
window.addEventListener("resize", () => state.chart?.setSize({
  width: Math.max(280, $("series").clientWidth), height: 240 }));

function barRows(rows, max) {
  return `<div class="bars">${rows.map((r) => `<div class="bar-row"><span class="name" title="${esc(r.name)}">${esc(r.name)}</span>
    <div class="bar"><b style="width:${max ? (100 * r.value) / max : 0}%;${r.color ? `background:${r.color}` : ""}"></b></div>
    <span class="num">${r.label ?? fmt.format(r.value)}</span></div>${r.after || ""}`).join("")}</div>`;
}

async function drawFunnel() {
  const el = $("funnel");
  if (!state.meta.funnels.length) return emptyState(el, "No funnel in the site's config.");
  const name = $("funnel-pick").value || state.meta.funnels[0].name;
  const body = await json(`/funnels/${encodeURIComponent(name)}`, { window: state.window });
  const f = body.funnels[0];
  const top = f.steps[0].visitors;
  if (!top) return emptyState(el, "Nobody entered this funnel in this window yet.");
  el.innerHTML = barRows(f.steps.map((s, i) => ({
    name: s.step, value: s.visitors,
    label: `${fmt.format(s.visitors)} · ${pct(s.rate_from_start)}`,
    after: i + 1 < f.steps.length && f.steps[i + 1].drop_off
      ? `<div class="drop">▼ ${fmt.format(f.steps[i + 1].drop_off)} dropped off (${pct(1 - (f.steps[i + 1].rate_from_previous ?? 1))})</div>` : "",
  })), top) + `<div class="overall">Overall conversion: <b>${pct(f.overall_rate)}</b></div>`;
}

async function drawExperiments() {
  const el = $("experiments");
  if (!state.meta.experiments.length) return emptyState(el, "No experiment in the site's config.");
  const body = await json("/experiments");
  if (!body.experiments.some((x) => x.variants.some((v) => v.exposed))) {
    return emptyState(el, "No visitor has been exposed to an experiment yet.");
  }
  const level = Math.round(body.confidence * 100);
  el.innerHTML = body.experiments.map((x) => {
    const rows = [];
    for (const v of x.variants) {
      for (const [conv, f] of Object.entries(v.conversions)) {
        const uplift = f.uplift == null ? "–"
          : `<span class="${f.uplift >= 0 ? "up" : "down"}">${f.uplift >= 0 ? "+" : ""}${(100 * f.uplift).toFixed(1)} %</span>`;
        const ci = f.ci_low == null ? "–"
          : `${(100 * f.ci_low).toFixed(1)} to ${(100 * f.ci_high).toFixed(1)} pts`;
        const sig = v.control ? `<span class="badge ctl">control</span>`
          : f.significant ? `<span class="badge yes">significant</span>`
          : f.p_value != null && f.p_value < 1 - body.confidence
            ? `<span class="badge no" title="Each arm needs 30 exposed visitors">too few visitors</span>`
            : `<span class="badge no">not yet</span>`;
        rows.push(`<tr><td><b>${esc(v.variant)}</b></td><td>${esc(conv)}</td>
          <td>${fmt.format(v.exposed)}</td><td>${fmt.format(f.converted)}</td><td>${pct(f.rate)}</td>
          <td>${uplift}</td><td>${f.p_value == null ? "–" : f.p_value < 0.001 ? "&lt; 0.001" : f.p_value.toFixed(3)}</td>
          <td>${ci}</td><td>${sig}</td></tr>`);
      }
    }
    return `<h3 class="exp">${esc(x.name)}</h3><table><thead><tr><th>Variant</th><th>Micro-conversion</th>
      <th>Exposed</th><th>Converted</th><th>Rate</th><th>Uplift</th><th>p-value</th><th>${level} % CI (diff.)</th>
      <th>Verdict</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
  }).join("");
}

async function drawLeads() {
  const el = $("leads");
  const body = await json("/leads", { window: state.window === "5m" || state.window === "1h" ? "24h" : state.window, limit: 10 });
  if (!body.leads.length) return emptyState(el, "No scored visitor yet (lead_score weights in the config).");
  el.innerHTML = `<table><thead><tr><th>#</th><th>Visitor</th><th>Score</th><th>Recent micro-conversions</th></tr></thead><tbody>
    ${body.leads.map((l, i) => `<tr><td>${i + 1}</td><td><code>${esc(l.visitor.slice(0, 10))}</code></td><td><b>${fmt.format(l.score)}</b></td>
    <td class="recent">${l.recent.slice(0, 4).map((r) => esc(r.conversion)).join(" · ")}</td></tr>`).join("")}</tbody></table>`;
}

async function drawBreakdown() {
  const el = $("breakdown");
  const dim = $("dim-pick").value || "page";
  const body = await json(`/breakdowns/${dim}`, { window: state.window, limit: 8 });
  if (!body.values.length) return emptyState(el, `No ${dim} data in this window.`);
  el.innerHTML = barRows(body.values.map((v) => ({ name: v.value, value: v.count })), body.values[0].count);
}

async function drawScroll() {
  const el = $("scroll"), sel = $("scroll-pick");
  // Every page with scroll data, so that the picker offers exactly those.
  const body = await json("/scroll", { window: state.window });
  const keep = sel.value;
  sel.innerHTML = body.pages.map((p) => `<option>${esc(p.path)}</option>`).join("");
  if (body.pages.some((p) => p.path === keep)) sel.value = keep;
  const page = body.pages.find((p) => p.path === sel.value);
  if (!page) return emptyState(el, "No scroll events in this window.");
  const most = Math.max(...page.depths.map((d) => d.count));
  el.innerHTML = barRows(page.depths.map((d) => ({ name: `${d.depth} %`, value: d.count,
    color: `hsl(228 70% ${62 - d.depth / 4}%)` })), most) +
    `<div class="overall">Scroll events reaching each depth of the page</div>`;
}

async function drawHeat() {
  const el = $("heat");
  const path = $("heat-pick").value;
  if (!path) return emptyState(el, "No page viewed in this window.");
  const body = await json("/heatmap", { window: state.window, path });
  const origin = $("origin").value.trim();
  // A schematic page, and over it the page itself when its origin is known (a sandboxed,
  // script-less frame: the tag cannot run in it). Kept across refreshes: only the heat changes.
  const src = origin ? origin.replace(/\/$/, "") + path : "";
  if (el.dataset.src !== src || !el.querySelector("canvas")) {
    el.dataset.src = src;
    el.innerHTML =
      `<div class="outline"><div></div><div></div><div class="cols"><div></div><div></div></div><div></div></div>` +
      (src ? `<iframe sandbox src="${esc(src)}" width="1280" height="1280" tabindex="-1" title="Page outline"></iframe>` : "") +
      "<canvas></canvas>";
  }
  const frame = el.querySelector("iframe");
  if (frame) frame.style.transform = `scale(${el.clientWidth / 1280})`;
  const canvas = el.querySelector("canvas");
  const w = (canvas.width = el.clientWidth * devicePixelRatio);
  const h = (canvas.height = el.clientHeight * devicePixelRatio);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...body.cells.flat());
  const cw = w / body.grid, ch = h / body.grid;
  body.cells.forEach((row, r) => row.forEach((n, c) => {
    if (!n) return;
    const t = n / max;
    const g = ctx.createRadialGradient((c + .5) * cw, (r + .5) * ch, 0, (c + .5) * cw, (r + .5) * ch, Math.max(cw, ch) * 1.2);
    g.addColorStop(0, `hsla(${(1 - t) * 60}, 100%, 50%, ${0.35 + 0.5 * t})`);
    g.addColorStop(1, "hsla(60, 100%, 50%, 0)");
    ctx.fillStyle = g;
    ctx.fillRect((c - .7) * cw, (r - .7) * ch, cw * 2.4, ch * 2.4);
  }));
  if (!body.total) {
    ctx.fillStyle = "#6b7585"; ctx.font = `${14 * devicePixelRatio}px system-ui`; ctx.textAlign = "center";
    ctx.fillText("No clicks on this page in this window", w / 2, h / 2);
  }
}

// -- CSV export: fetched with the token, handed to the browser as a file --------------------------

document.addEventListener("click", async (e) => {
  const link = e.target.closest("[data-csv]");
  if (!link) return;
  const what = link.dataset.csv;
  const params = { window: state.window, format: "csv" };
  const paths = {
    series: ["/series", { names: [...state.picked].join(",") }],
    funnels: ["/funnels", {}], experiments: ["/experiments", { window: undefined }],
    scroll: ["/scroll", {}], heatmap: ["/heatmap", { path: $("heat-pick").value }],
    leads: ["/leads", {}], breakdowns: [`/breakdowns/${$("dim-pick").value}`, {}],
  };
  const [path, extra] = paths[what];
  const all = Object.fromEntries(Object.entries({ ...params, ...extra }).filter(([, v]) => v !== undefined));
  const blob = await (await api(path, all)).blob();
  const a = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(blob), download: `${state.site}-${what}.csv` });
  a.click(); URL.revokeObjectURL(a.href);
});

if (state.site && state.token) open_(); else showLogin();
