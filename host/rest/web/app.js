// Weir's web UI: a single page over the JobManager's REST API (Flink's routes), with no
// framework, no build step and nothing loaded from elsewhere. Each page polls what it shows
// every `refresh-interval` of /config (3 s by default); plots keep the polled values in memory.
'use strict';

const ui = {
  refreshMs: 3000,
  timer: null,
  page: null,
  ticking: false,
  // Per job: polled throughput, { t, values: { vertexId: records per second } }.
  throughput: new Map(),
  // Per job: checkpoint id -> { t, size }, so the size plot outlives the history window.
  checkpointSizes: new Map(),
  // Per TaskManager: polled CPU load and memory.
  tmHistory: new Map(),
  // Per job: the vertex whose subtasks are shown.
  selectedVertex: new Map(),
};

const HISTORY_POINTS = 200;
const MIN_WATERMARK = -9.2e18;
const TERMINAL = new Set(['FINISHED', 'CANCELED', 'FAILED']);
const SERIES_COLORS = ['#1f6feb', '#2da44e', '#d4a72c', '#cf222e', '#8250df', '#0a9396', '#bc4c00', '#6e7781'];

// ---------------------------------------------------------------- REST

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The cluster's bearer token (rest.authentication.token), asked for when the API answers 401
// and kept for this browser tab only.
const TOKEN_KEY = 'weir.rest-token';

/** Asks for the token: shows the sign-in form; submitting it stores the token and reloads. */
function showLogin(message) {
  const dialog = document.getElementById('login');
  if (!dialog || !dialog.hidden) return;
  document.getElementById('login-error').textContent = message || '';
  dialog.hidden = false;
  document.getElementById('login-token').focus();
}

function setupLogin() {
  const form = document.getElementById('login-form');
  if (!form) return;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = document.getElementById('login-token').value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    location.reload();
  });
}

/** Calls the REST API (paths are relative, so the UI works behind a path prefix too). */
async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) options = { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` } };
  const response = await fetch(path.replace(/^\//, ''), options);
  if (response.status === 401) {
    // A wrong token is forgotten, so the form asks again rather than failing on every poll.
    if (token) sessionStorage.removeItem(TOKEN_KEY);
    showLogin(token ? 'The token was not accepted.' : '');
  }
  const text = await response.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch (_) {
      body = text;
    }
  }
  if (!response.ok) {
    const message = body && Array.isArray(body.errors) ? body.errors.join('\n') : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

function postJson(path, body, method = 'POST') {
  return api(path, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

// ---------------------------------------------------------------- DOM

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.setAttribute('class', value);
    else el.setAttribute(key, value === true ? '' : value);
  }
}

/** An HTML element. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  return append(el, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element. */
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  return append(el, children);
}

function panel(title, attrs = {}) {
  const body = h('div', { class: attrs.flush ? 'body flush' : 'body' });
  const el = h('section', { class: 'panel', id: attrs.id }, title ? h('h2', {}, title) : null, body);
  return { el, body };
}

function card(label, value, id) {
  return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value', id }, value));
}

function table(columns, rows, options = {}) {
  if (!rows.length) return h('div', { class: 'empty' }, options.empty || 'Nothing to show.');
  const head = h('tr', {}, columns.map((c) => h('th', { class: c.num ? 'num' : null }, c.title)));
  const body = rows.map((row) => {
    const tr = h('tr', options.rowAttrs ? options.rowAttrs(row) : {});
    for (const c of columns) append(tr, [h('td', { class: [c.num ? 'num' : '', c.wrap ? 'wrap' : ''].join(' ').trim() || null }, c.value(row))]);
    if (options.onClick) {
      tr.classList.add('clickable');
      tr.addEventListener('click', () => options.onClick(row));
    }
    return tr;
  });
  return h('table', {}, h('thead', {}, head), h('tbody', {}, body));
}

function badge(state, extra) {
  return h('span', { class: `badge ${state}${extra ? ' ' + extra : ''}` }, state);
}

const STATE_COLORS = {
  CREATED: '#d4a72c', SCHEDULED: '#bf8700', DEPLOYING: '#9a6700', INITIALIZING: '#8250df', RUNNING: '#2da44e',
  FINISHED: '#0969da', CANCELING: '#8c959f', CANCELED: '#6e7781', FAILED: '#cf222e', RECONCILING: '#bc4c00',
};

/** Task counts by state as coloured chips (`tasks` of /jobs/overview or /jobs/:id). */
function taskChips(tasks) {
  const chips = [];
  for (const [state, color] of Object.entries(STATE_COLORS)) {
    const n = tasks[state] ?? tasks[state.toLowerCase()] ?? 0;
    if (n > 0) chips.push(h('span', { class: 'chip', style: `background:${color}`, title: state }, n));
  }
  return h('span', { class: 'chips' }, chips);
}

// ---------------------------------------------------------------- formatting

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

function fmtTime(ms) {
  if (!ms || ms < 0) return '-';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s %= 86400;
  const hh = Math.floor(s / 3600);
  s %= 3600;
  const m = Math.floor(s / 60);
  s %= 60;
  if (d) return `${d}d ${hh}h ${m}m`;
  if (hh) return `${hh}h ${m}m ${s}s`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function fmtCount(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '-';
  if (Math.abs(n) >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)} K`;
  return Math.round(n).toLocaleString('en-US');
}

function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '-';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

function fmtRate(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '-';
  return `${fmtCount(n)}/s`;
}

function fmtPercent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '-';
  return `${Math.round(ratio * 100)}%`;
}

/** A watermark's time of day with milliseconds, for the graph's boxes. */
function fmtWatermarkShort(value) {
  const v = Number(value);
  if (value === null || value === undefined || Number.isNaN(v) || v <= MIN_WATERMARK) return 'No Watermark';
  return `${fmtClock(v)}.${pad(new Date(v).getMilliseconds(), 3)}`;
}

function fmtWatermark(value) {
  const v = Number(value);
  if (value === null || value === undefined || Number.isNaN(v) || v <= MIN_WATERMARK) return 'No Watermark';
  return fmtTime(v);
}

// ---------------------------------------------------------------- notices and liveness

function notify(message, kind = 'error') {
  const notice = document.getElementById('notice');
  document.getElementById('notice-text').textContent = message;
  notice.className = kind === 'success' ? 'success' : '';
  notice.dataset.kind = kind;
  notice.hidden = false;
}

function clearNotice() {
  document.getElementById('notice').hidden = true;
}

function setLive(ok, message) {
  const el = document.getElementById('refresh');
  el.classList.toggle('stale', !ok);
  document.getElementById('refresh-text').textContent = ok ? `live · ${fmtClock(Date.now())}` : `not reachable: ${message}`;
}

// ---------------------------------------------------------------- charts

/**
 * A line chart in SVG: `series` is [{ name, points: [[t, v], …] }]; x is time. Returns a
 * `div.chart` with the plot and a legend.
 */
function lineChart(series, options = {}) {
  const width = options.width || 760;
  const height = options.height || 220;
  const left = 64;
  const right = 12;
  const top = 12;
  const bottom = 26;
  const yFormat = options.yFormat || fmtAxis;
  const all = series.flatMap((s) => s.points);
  const wrap = h('div', { class: 'chart', id: options.id });
  if (all.length < 2) {
    return append(wrap, [h('div', { class: 'nodata' }, options.empty || 'Collecting data…')]);
  }
  const xs = all.map((p) => p[0]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const yMax = niceCeiling(Math.max(options.yMin || 0, ...all.map((p) => p[1])));
  const sx = (t) => left + ((t - x0) / (x1 - x0)) * (width - left - right);
  const sy = (v) => top + (1 - v / yMax) * (height - top - bottom);
  const plot = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' });
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    const y = sy(v);
    append(plot, [
      svg('line', { class: 'grid', x1: left, x2: width - right, y1: y, y2: y }),
      svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, yFormat(v)),
    ]);
  }
  for (let i = 0; i <= 4; i++) {
    const t = x0 + ((x1 - x0) / 4) * i;
    const label = options.xFormat ? options.xFormat(t) : fmtClock(t);
    append(plot, [svg('text', { x: sx(t), y: height - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' }, label)]);
  }
  append(plot, [svg('line', { class: 'axis', x1: left, x2: left, y1: top, y2: height - bottom })]);
  append(plot, [svg('line', { class: 'axis', x1: left, x2: width - right, y1: height - bottom, y2: height - bottom })]);
  const legend = h('div', {});
  series.forEach((s, i) => {
    const color = s.color || SERIES_COLORS[i % SERIES_COLORS.length];
    if (s.points.length) {
      const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
      append(plot, [svg('path', { class: 'series', d, stroke: color }, svg('title', {}, s.name))]);
      if (options.dots) {
        for (const p of s.points) append(plot, [svg('circle', { cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: color })]);
      }
    }
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    append(legend, [h('span', { class: 'legend-item' }, h('i', { style: `background:${color}` }), `${s.name}${last === null ? '' : ': ' + yFormat(last)}`)]);
  });
  return append(wrap, [plot, legend]);
}

/** The smallest of 1, 2, 2.5, 5 times a power of ten at or above `v` (1 for nothing). */
function niceCeiling(v) {
  if (!(v > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= v) return step * power;
  return 10 * power;
}

function fmtAxis(v) {
  return Math.abs(v) < 10 && v !== Math.round(v) ? v.toFixed(v < 1 ? 2 : 1) : fmtCount(v);
}

function remember(list, item) {
  list.push(item);
  if (list.length > HISTORY_POINTS) list.splice(0, list.length - HISTORY_POINTS);
}

/** The first 12 hex digits of a component's content hash. */
function shortHash(hash) {
  return (hash || '').slice(0, 12);
}

/** Which component an operator runs: its file name and short hash (nothing for no code). */
function componentLabel(component, cls = 'vertex-component') {
  if (!component) return null;
  return h('span', { class: cls, title: `${component.name}\nsha256 ${component.hash}` },
    `${component.name || '(unnamed)'} · ${shortHash(component.hash)}`);
}

/** A failure cause of the REST API, without its exception class. */
function causeText(cause) {
  return (cause['stack-trace'] || cause.class || '').replace(/^[\w.$]+(Exception|Error): /, '');
}

/** An upgrade's result as a badge (its status while it has none). */
function upgradeBadge(u) {
  const op = u.operation || {};
  const name = op.result || (u.status?.id === 'COMPLETED' ? 'REFUSED' : u.status?.id || 'IN_PROGRESS');
  return h('span', { class: `badge ${name}`, title: op['failure-cause'] ? causeText(op['failure-cause']) : null }, name);
}

// ---------------------------------------------------------------- the job graph

const NODE_W = 214;
const NODE_H = 150;
const GAP_X = 60;
const GAP_Y = 28;
const NAME_CHARS = 25;

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function mix(a, b, t) {
  const [ra, ga, ba] = hexToRgb(a);
  const [rb, gb, bb] = hexToRgb(b);
  const k = Math.max(0, Math.min(1, t || 0));
  return [ra + (rb - ra) * k, ga + (gb - ga) * k, ba + (bb - ba) * k].map(Math.round);
}

/** Flink's colouring: idle is blue, busy is red, backpressured is black. */
function nodeColors(busy, backPressured) {
  const rgb = backPressured > 0.1 && backPressured >= busy ? mix('#dbe4f0', '#25292f', backPressured) : mix('#d6e6ff', '#e5484d', busy);
  const luminance = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255;
  return { fill: `rgb(${rgb.join(',')})`, text: luminance < 0.55 ? '#ffffff' : '#1d2633' };
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A name in at most two lines of `max` characters, broken at a space where there is one. */
function twoLines(text, max) {
  if (text.length <= max) return [text];
  let cut = text.lastIndexOf(' ', max);
  if (cut <= 0) cut = max;
  return [text.slice(0, cut), truncate(text.slice(cut).trim(), max)];
}

/**
 * Draws a job's plan (Flink's plan JSON) left to right, sources first. `info` maps a vertex id
 * to what its box shows ({ status, parallelism, lines: [...], busy, backPressured, component }).
 */
function drawGraph(plan, info = {}, options = {}) {
  const nodes = new Map(plan.nodes.map((n) => [n.id, n]));
  const layer = new Map();
  const layerOf = (id, seen = new Set()) => {
    if (layer.has(id)) return layer.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    const inputs = (nodes.get(id)?.inputs || []).filter((i) => nodes.has(i.id));
    const l = inputs.length ? 1 + Math.max(...inputs.map((i) => layerOf(i.id, seen))) : 0;
    layer.set(id, l);
    return l;
  };
  // Plan nodes list sinks first: walk them reversed to keep the job's own order per column.
  const ordered = [...plan.nodes].reverse();
  const columns = [];
  for (const n of ordered) {
    const l = layerOf(n.id);
    (columns[l] = columns[l] || []).push(n.id);
  }
  // A line more where the boxes say which component each operator runs.
  const nodeH = NODE_H + (Object.values(info).some((d) => d.component) ? 16 : 0);
  const tallest = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  const width = columns.length * (NODE_W + GAP_X) - GAP_X + 40;
  const height = tallest * (nodeH + GAP_Y) - GAP_Y + 40;
  const position = new Map();
  columns.forEach((column, l) => {
    const offset = ((tallest - column.length) * (nodeH + GAP_Y)) / 2;
    column.forEach((id, i) => position.set(id, { x: 20 + l * (NODE_W + GAP_X), y: 20 + offset + i * (nodeH + GAP_Y) }));
  });
  // Scaled down to the panel's width when wider, never up.
  const root = svg('svg', { id: 'job-graph', viewBox: `0 0 ${width} ${height}`, style: `max-width:${width}px` });
  append(root, [
    svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#8a96a8' }))),
  ]);
  for (const n of plan.nodes) {
    for (const input of n.inputs || []) {
      const from = position.get(input.id);
      const to = position.get(n.id);
      if (!from || !to) continue;
      const x1 = from.x + NODE_W;
      const y1 = from.y + nodeH / 2;
      const x2 = to.x - 2;
      const y2 = to.y + nodeH / 2;
      const bend = Math.max(30, (x2 - x1) / 2);
      append(root, [
        svg('path', { class: 'edge', d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }),
        svg('text', { class: 'edge-label', x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, 'text-anchor': 'middle' }, input.ship_strategy || ''),
      ]);
    }
  }
  for (const n of plan.nodes) {
    const p = position.get(n.id);
    const data = info[n.id] || {};
    const colors = nodeColors(data.busy || 0, data.backPressured || 0);
    const g = svg('g', {
      class: `node${options.selected === n.id ? ' selected' : ''}`,
      'data-vertex': n.id,
      'data-name': n.description,
      transform: `translate(${p.x},${p.y})`,
    });
    append(g, [
      svg('title', {}, n.description),
      svg('rect', { class: 'box', width: NODE_W, height: nodeH, rx: 8, fill: colors.fill }),
      svg('rect', { x: 0, y: 0, width: 5, height: nodeH, rx: 2, fill: STATE_COLORS[data.status] || '#8c959f' }),
    ]);
    const name = twoLines(n.description, NAME_CHARS);
    name.forEach((line, i) => append(g, [svg('text', { class: 'name', x: 14, y: 21 + i * 16, fill: colors.text }, line)]));
    const lines = [`Parallelism: ${n.parallelism}${data.status ? ' · ' + data.status : ''}`, ...(data.lines || [])];
    const first = 24 + name.length * 16;
    lines.forEach((line, i) => append(g, [svg('text', { x: 14, y: first + i * 16, fill: colors.text }, line)]));
    if (data.component) {
      const code = truncate((data.component.name || '').replace(/\.wasm$/, ''), 24);
      append(g, [svg('text', { class: 'vertex-component', x: 14, y: first + lines.length * 16, fill: colors.text },
        svg('title', {}, `${data.component.name} · sha256 ${data.component.hash}`), `${code} · ${shortHash(data.component.hash).slice(0, 6)}`)]);
    }
    if (options.onSelect) g.addEventListener('click', () => options.onSelect(n.id));
    append(root, [g]);
  }
  return root;
}

function graphLegend() {
  const swatch = (a, b) => h('span', { class: 'swatch', style: `background:linear-gradient(90deg,${a},${b})` });
  return h('div', { class: 'legend' },
    h('span', {}, swatch('#d6e6ff', '#e5484d'), 'idle → busy'),
    h('span', {}, swatch('#dbe4f0', '#25292f'), 'backpressured'),
    h('span', {}, 'Click an operator for its subtasks.'));
}

// ---------------------------------------------------------------- pages

function jobTable(jobs, empty) {
  return table(
    [
      { title: 'Job Name', value: (j) => h('a', { href: `#/job/${j.jid}` }, j.name) },
      { title: 'Start Time', value: (j) => fmtTime(j['start-time']) },
      { title: 'Duration', value: (j) => fmtDuration(j.duration) },
      { title: 'End Time', value: (j) => fmtTime(j['end-time']) },
      { title: 'Tasks', value: (j) => taskChips(j.tasks || {}) },
      { title: 'Status', value: (j) => badge(j.state) },
    ],
    jobs,
    {
      empty,
      rowAttrs: (j) => ({ class: 'job-row', 'data-jid': j.jid, 'data-state': j.state }),
      onClick: (j) => {
        location.hash = `#/job/${j.jid}`;
      },
    },
  );
}

function overviewPage() {
  let cards;
  let running;
  let completed;
  return {
    title: 'Overview',
    nav: 'overview',
    mount(el) {
      cards = h('div', { class: 'cards' });
      running = panel('Running Job List', { flush: true, id: 'running-jobs' });
      completed = panel('Completed Job List', { flush: true, id: 'completed-jobs' });
      append(el, [cards, running.el, completed.el]);
    },
    async refresh() {
      const [ov, list] = await Promise.all([api('overview'), api('jobs/overview')]);
      cards.replaceChildren(
        card('Available Task Slots', [h('span', { id: 'ov-slots-available' }, ov['slots-available']), h('small', {}, ' of '), h('span', { id: 'ov-slots-total' }, ov['slots-total'])]),
        card('Task Managers', ov.taskmanagers, 'ov-taskmanagers'),
        card('Running Jobs', ov['jobs-running'], 'ov-jobs-running'),
        card('Finished', ov['jobs-finished'], 'ov-jobs-finished'),
        card('Canceled', ov['jobs-cancelled'], 'ov-jobs-cancelled'),
        card('Failed', ov['jobs-failed'], 'ov-jobs-failed'),
      );
      document.getElementById('version').textContent = `Flink API ${ov['flink-version']} · ${ov['flink-commit']}`;
      const jobs = list.jobs || [];
      running.body.replaceChildren(jobTable(jobs.filter((j) => !TERMINAL.has(j.state)), 'No running jobs.'));
      completed.body.replaceChildren(jobTable(jobs.filter((j) => TERMINAL.has(j.state)), 'No completed jobs.'));
    },
  };
}

function jobsPage(which) {
  let list;
  return {
    title: which === 'running' ? 'Running Jobs' : 'Completed Jobs',
    nav: `jobs-${which}`,
    mount(el) {
      list = panel(null, { flush: true, id: `${which}-jobs` });
      append(el, [list.el]);
    },
    async refresh() {
      const jobs = (await api('jobs/overview')).jobs || [];
      const shown = jobs.filter((j) => (which === 'running') !== TERMINAL.has(j.state));
      list.body.replaceChildren(jobTable(shown, which === 'running' ? 'No running jobs.' : 'No completed jobs.'));
    },
  };
}

/** Checkpoint statuses drawn with the colours of the job states they resemble. */
const CHECKPOINT_STATES = { COMPLETED: 'FINISHED', FAILED: 'FAILED', IN_PROGRESS: 'RUNNING' };

const RATE_METRICS = ['numRecordsInPerSecond', 'numRecordsOutPerSecond', 'backPressuredTimeMsPerSecond', 'busyTimeMsPerSecond', 'idleTimeMsPerSecond'];

/** The aggregated live metrics of each vertex: rates summed, backpressure and busy maxima. */
async function vertexLive(jid, vertices) {
  const query = `get=${RATE_METRICS.join(',')}&agg=sum,max,min`;
  const [metrics, watermarks] = await Promise.all([
    Promise.all(vertices.map((v) => api(`jobs/${jid}/vertices/${v.id}/subtasks/metrics?${query}`).catch(() => []))),
    Promise.all(vertices.map((v) => api(`jobs/${jid}/vertices/${v.id}/watermarks`).catch(() => []))),
  ]);
  const live = {};
  vertices.forEach((v, i) => {
    const m = Object.fromEntries(metrics[i].map((e) => [e.id, e]));
    const marks = watermarks[i].map((w) => Number(w.value)).filter((w) => !Number.isNaN(w));
    live[v.id] = {
      inRate: m.numRecordsInPerSecond?.sum ?? null,
      outRate: m.numRecordsOutPerSecond?.sum ?? null,
      backPressured: (m.backPressuredTimeMsPerSecond?.max ?? 0) / 1000,
      busy: (m.busyTimeMsPerSecond?.max ?? 0) / 1000,
      lowWatermark: marks.length ? Math.min(...marks) : null,
    };
  });
  return live;
}

function jobPage(jid, tab) {
  const tabs = ['overview', 'exceptions', 'checkpoints', 'watermarks', 'configuration'];
  const tabNames = { overview: 'Overview', exceptions: 'Exceptions', checkpoints: 'Checkpoints', watermarks: 'Watermarks', configuration: 'Configuration' };
  let header;
  let body;
  const page = { title: 'Job', nav: 'jobs-running' };
  const els = {};

  function confirmBox(id, text, action, extra = [], labels = {}) {
    return h('div', { class: 'actions', id: `${id}-box`, hidden: true },
      h('span', {}, text), extra,
      h('button', { class: 'danger', id: `${id}-confirm`, type: 'button', onclick: action }, labels.yes || 'Yes'),
      h('button', { type: 'button', id: `${id}-abort`, onclick: () => showConfirm(null) }, labels.no || 'No'));
  }

  /** Shows one of the confirmation boxes (or none). */
  function showConfirm(box) {
    for (const b of [els.cancelBox, els.stopBox, els.upgradeBox, els.rescaleBox]) b.hidden = b !== box;
    els.confirmRow.hidden = !box;
  }

  async function cancelJob() {
    showConfirm(null);
    try {
      await api(`jobs/${jid}?mode=cancel`, { method: 'PATCH' });
      notify(`Cancelling job ${jid}.`, 'success');
      await tick();
    } catch (e) {
      notify(`Cancelling the job failed: ${e.message}`);
    }
  }

  async function stopJob() {
    showConfirm(null);
    const body = { drain: els.drain.checked };
    if (els.target.value.trim()) body.targetDirectory = els.target.value.trim();
    try {
      const answer = await postJson(`jobs/${jid}/stop`, body);
      const trigger = answer['request-id'];
      notify(`Stop with savepoint triggered (request ${trigger}); waiting for the savepoint…`, 'success');
      for (let i = 0; i < 120; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        const status = await api(`jobs/${jid}/savepoints/${trigger}`);
        if (status.status?.id === 'COMPLETED') {
          const op = status.operation || {};
          if (op['failure-cause']) notify(`Stop with savepoint failed: ${op['failure-cause']['stack-trace'] || op['failure-cause'].class}`);
          else notify(`Savepoint completed: ${op.location}`, 'success');
          return;
        }
      }
      notify('The savepoint did not complete within two minutes.');
    } catch (e) {
      notify(`Stop with savepoint failed: ${e.message}`);
    }
  }

  /** Opens the upgrade box with the uploaded jars to choose from, the newest first. */
  async function openUpgrade() {
    els.upgradePlan.replaceChildren();
    els.upgradePlan.hidden = true;
    showConfirm(els.upgradeBox);
    try {
      const jars = ((await api('jars')).files || []).slice().sort((a, b) => (b.uploaded || 0) - (a.uploaded || 0));
      const previous = els.upgradeJar.value;
      els.upgradeJar.replaceChildren(...(jars.length
        ? jars.map((j) => h('option', { value: j.id, title: `${j.id}, uploaded ${fmtTime(j.uploaded)}` }, `${j.name} · ${fmtClock(j.uploaded)}`))
        : [h('option', { value: '' }, 'no jars uploaded: upload one under Submit New Job')]));
      if (jars.some((j) => j.id === previous)) els.upgradeJar.value = previous;
    } catch (e) {
      notify(`Listing the uploaded jars failed: ${e.message}`);
    }
  }

  function upgradeBody(dryRun) {
    const body = { jarId: els.upgradeJar.value, allowNonRestoredState: false, dryRun };
    if (els.upgradeArgs.value.trim()) body.programArgs = els.upgradeArgs.value.trim();
    const operators = els.upgradeOperators.value.split(',').map((o) => o.trim()).filter((o) => o);
    if (operators.length) body.operators = operators;
    return body;
  }

  /** What the upgrade would change, shown in the box; nothing is done. */
  async function dryRunUpgrade() {
    els.upgradePlan.hidden = false;
    els.upgradePlan.dataset.kind = 'pending';
    els.upgradePlan.replaceChildren(h('span', { class: 'muted' }, 'Planning…'));
    els.upgradeDryRun.disabled = true;
    try {
      const plan = await postJson(`jobs/${jid}/upgrade`, upgradeBody(true));
      const component = plan.component || {};
      const extra = [];
      if ((plan['added-operators'] || []).length) extra.push(`added: ${plan['added-operators'].join(', ')}`);
      if ((plan['removed-operators'] || []).length) extra.push(`removed: ${plan['removed-operators'].join(', ')}`);
      els.upgradePlan.dataset.kind = 'plan';
      els.upgradePlan.dataset.mode = plan.mode;
      els.upgradePlan.replaceChildren(
        h('div', { class: 'plan-summary' },
          h('span', {}, 'Mode: ', h('strong', { id: 'upgrade-mode' }, plan.mode)),
          h('span', {}, 'Component: ', h('code', { title: component.hash }, `${component.name} · ${shortHash(component.hash)}`)),
          (plan['program-args'] || []).length ? h('span', {}, 'Arguments: ', h('code', {}, plan['program-args'].join(' '))) : null,
          extra.map((e) => h('span', {}, e))),
        table(
          [
            { title: 'Operator', value: (v) => v.name },
            { title: 'UID', value: (v) => h('code', {}, v.uid) },
            { title: 'Parallelism', value: (v) => v.parallelism, num: true },
            { title: 'Code', value: (v) => (v.changes ? h('span', { class: 'badge SWAPPED' }, 'new code') : h('span', { class: 'muted' }, 'unchanged')) },
          ],
          plan.vertices || [],
          { rowAttrs: (v) => ({ class: 'upgrade-plan-row', 'data-uid': v.uid, 'data-name': v.name, 'data-changes': String(!!v.changes) }) },
        ));
    } catch (e) {
      els.upgradePlan.dataset.kind = 'error';
      els.upgradePlan.replaceChildren(h('span', { class: 'plan-error' }, e.message));
    } finally {
      els.upgradeDryRun.disabled = false;
    }
  }

  /** Starts the upgrade and follows it to its end. */
  async function upgradeJob() {
    if (!els.upgradeJar.value) {
      notify('Choose an uploaded jar to upgrade to.');
      return;
    }
    const body = upgradeBody(false);
    showConfirm(null);
    try {
      const answer = await postJson(`jobs/${jid}/upgrade`, body);
      const request = answer['request-id'];
      notify(`Upgrade started (request ${request}); waiting for it to complete…`, 'success');
      const deadline = Date.now() + 180000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        const status = await api(`jobs/${jid}/upgrade/${request}`);
        if (status.status?.id !== 'COMPLETED') continue;
        const op = status.operation || {};
        const cause = op['failure-cause'] ? causeText(op['failure-cause']) : null;
        if (op.result === 'ROLLED_BACK') notify(`Upgrade ROLLED_BACK: ${cause || 'the new code failed'}`);
        else if (cause || !op.result) notify(`Upgrade failed: ${cause || 'no result'}`);
        else notify(`Upgrade ${op.result} at checkpoint ${op['checkpoint-id'] ?? '-'} in ${op.duration} ms (operators: ${(op.operators || []).join(', ') || '-'})`, 'success');
        await tick();
        return;
      }
      notify('The upgrade did not complete within three minutes.');
    } catch (e) {
      notify(`Upgrade failed: ${e.message}`);
    }
  }

  /** Opens the rescale box: each operator with its parallelism, to change. */
  async function openRescale() {
    showConfirm(els.rescaleBox);
    try {
      const d = await api(`jobs/${jid}`);
      els.rescaleVertices.replaceChildren(...(d.vertices || []).map((v) => h('label', { class: 'rescale-vertex' }, `${v.name} `,
        h('input', { type: 'number', min: '1', value: String(v.parallelism), style: 'width:60px', 'data-vertex': v.id, 'data-name': v.name, 'data-current': String(v.parallelism) }))));
    } catch (e) {
      notify(`Reading the job failed: ${e.message}`);
    }
  }

  /** Sets each operator's parallelism (Flink's PUT resource-requirements) and follows the
   *  rescale, which the job's upgrade history records, to its end. */
  async function rescaleJob() {
    const inputs = [...els.rescaleVertices.querySelectorAll('input[data-vertex]')];
    const wanted = inputs.map((i) => [i.dataset.vertex, Number(i.value), Number(i.dataset.current)]);
    if (!wanted.length || wanted.some(([, p]) => !Number.isInteger(p) || p < 1)) {
      notify('Each parallelism must be a positive whole number.');
      return;
    }
    showConfirm(null);
    try {
      const before = ((await api(`jobs/${jid}/upgrades`)).upgrades || []).length;
      const body = Object.fromEntries(wanted.map(([id, p]) => [id, { parallelism: { lowerBound: 1, upperBound: p } }]));
      await api(`jobs/${jid}/resource-requirements`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const shown = wanted.map(([, p]) => p).join(',');
      if (wanted.every(([, p, current]) => p === current)) {
        notify(`The job already runs at parallelism ${shown}.`, 'success');
        return;
      }
      notify(`Rescaling to parallelism ${shown}…`, 'success');
      const deadline = Date.now() + 180000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        const history = (await api(`jobs/${jid}/upgrades`)).upgrades || [];
        if (history.length <= before || history[0].status?.id !== 'COMPLETED') continue;
        const op = history[0].operation || {};
        if (op.result === 'REDEPLOYED') notify(`Rescale completed: parallelism ${shown} in ${op.duration} ms`, 'success');
        else notify(`Rescale ${op.result || 'failed'}: ${op['failure-cause'] ? causeText(op['failure-cause']) : 'no result'}`);
        await tick();
        return;
      }
      notify('The rescale did not complete within three minutes.');
    } catch (e) {
      notify(`Rescale refused: ${e.message}`);
    }
  }

  page.mount = (el) => {
    els.name = h('h2', { id: 'job-name' }, '…');
    els.state = h('span', { id: 'job-state' });
    els.meta = h('div', { class: 'meta' });
    els.drain = h('input', { type: 'checkbox', id: 'stop-drain' });
    els.target = h('input', { type: 'text', id: 'stop-target', placeholder: 'savepoint directory (default state.savepoints.dir)', style: 'width:300px' });
    els.cancelBox = confirmBox('cancel-job', 'Cancel this job?', cancelJob);
    els.stopBox = confirmBox('stop-job', 'Stop with a savepoint?', stopJob, [els.target, h('label', {}, els.drain, ' drain')]);
    els.upgradeJar = h('select', { id: 'upgrade-jar' });
    els.upgradeArgs = h('input', { type: 'text', id: 'upgrade-args', placeholder: 'program arguments (empty: keep the job\'s)', style: 'width:300px' });
    els.upgradeOperators = h('input', { type: 'text', id: 'upgrade-operators', placeholder: 'operators (empty: all that change)', style: 'width:250px' });
    els.upgradePlan = h('div', { id: 'upgrade-plan', class: 'upgrade-plan', hidden: true });
    els.upgradeDryRun = h('button', { id: 'upgrade-dry-run', type: 'button', onclick: dryRunUpgrade }, 'Dry run');
    els.upgradeBox = confirmBox('upgrade-job', 'Upgrade to', upgradeJob, [els.upgradeJar, els.upgradeArgs, els.upgradeOperators, els.upgradeDryRun], { yes: 'Confirm', no: 'Close' });
    append(els.upgradeBox, [els.upgradePlan]);
    els.rescaleVertices = h('span', { id: 'rescale-vertices', class: 'actions' });
    els.rescaleBox = confirmBox('rescale-job', 'Parallelism:', rescaleJob, [els.rescaleVertices], { yes: 'Confirm', no: 'Close' });
    els.rescale = h('button', { id: 'rescale-job', type: 'button', title: 'Run the job at another parallelism, keeping its state (PUT resource-requirements)', onclick: openRescale }, 'Rescale');
    els.cancel = h('button', { class: 'danger', id: 'cancel-job', type: 'button', onclick: () => showConfirm(els.cancelBox) }, 'Cancel Job');
    els.stop = h('button', { id: 'stop-job', type: 'button', onclick: () => showConfirm(els.stopBox) }, 'Stop with Savepoint');
    els.upgrade = h('button', { id: 'upgrade-job', type: 'button', title: 'Swap in the code of an uploaded component, keeping the job and its state', onclick: openUpgrade }, 'Upgrade');
    els.actions = h('div', { class: 'actions' }, els.upgrade, els.rescale, els.stop, els.cancel);
    els.confirmRow = h('div', { class: 'job-header', style: 'padding-top:0', hidden: true }, els.cancelBox, els.stopBox, els.upgradeBox, els.rescaleBox);
    header = h('section', { class: 'panel' },
      h('div', { class: 'job-header' }, h('div', {}, h('div', { class: 'actions' }, els.name, els.state), els.meta), els.actions),
      els.confirmRow);
    const tabBar = h('nav', { class: 'tabs' }, tabs.map((t) => h('a', { href: `#/job/${jid}/${t}`, class: t === tab ? 'active' : null, id: `tab-${t}` }, tabNames[t])));
    body = h('div', { id: `job-${tab}` });
    append(el, [header, tabBar, body]);
    if (tab === 'overview') {
      els.graph = panel('Job Graph', { flush: true, id: 'graph-panel' });
      els.graphBox = h('div', { class: 'graph-wrap' });
      append(els.graph.body, [els.graphBox, graphLegend()]);
      els.throughput = panel('Throughput (records per second, the larger of in and out per operator)', { id: 'throughput-panel' });
      els.vertices = panel('Operators', { flush: true, id: 'vertices-panel' });
      els.subtasks = panel('Subtasks', { flush: true, id: 'subtasks-panel' });
      els.upgrades = panel('Upgrades', { flush: true, id: 'upgrades-panel' });
      els.upgrades.el.hidden = true;
      els.flame = panel('Flame Graph', { id: 'flame-panel' });
      els.flame.el.hidden = true;
      append(body, [els.graph.el, els.throughput.el, els.vertices.el, els.subtasks.el, els.flame.el, els.upgrades.el]);
    }
  };

  function renderHeader(d) {
    page.title = d.name;
    document.getElementById('title').textContent = d.name;
    els.name.textContent = d.name;
    els.state.replaceChildren(badge(d.state));
    els.state.dataset.state = d.state;
    els.meta.replaceChildren();
    append(els.meta, [
      h('span', {}, 'ID: ', h('code', {}, d.jid)),
      h('span', {}, 'Start: ', fmtTime(d['start-time'])),
      h('span', {}, 'Duration: ', fmtDuration(d.duration)),
      d['end-time'] > 0 ? h('span', {}, 'End: ', fmtTime(d['end-time'])) : null,
    ]);
    els.actions.hidden = TERMINAL.has(d.state);
    els.upgrade.hidden = d.state !== 'RUNNING';
    els.rescale.hidden = d.state !== 'RUNNING';
    if (TERMINAL.has(d.state)) showConfirm(null);
  }

  async function refreshOverview(d) {
    const selected = ui.selectedVertex.get(jid) || null;
    const [live, upgrades] = await Promise.all([
      vertexLive(jid, d.vertices),
      api(`jobs/${jid}/upgrades`).then((u) => u.upgrades || []).catch(() => []),
    ]);
    // Throughput history.
    const history = ui.throughput.get(jid) || [];
    ui.throughput.set(jid, history);
    if (!TERMINAL.has(d.state)) {
      const values = {};
      for (const v of d.vertices) values[v.id] = Math.max(live[v.id].inRate ?? 0, live[v.id].outRate ?? 0);
      remember(history, { t: Date.now(), values });
    }
    const info = {};
    for (const v of d.vertices) {
      const l = live[v.id];
      const m = v.metrics || {};
      info[v.id] = {
        status: v.status,
        busy: l.busy,
        backPressured: l.backPressured,
        component: v.component,
        lines: [
          `In: ${fmtCount(m['read-records'])} · ${fmtRate(l.inRate)}`,
          `Out: ${fmtCount(m['write-records'])} · ${fmtRate(l.outRate)}`,
          `Backpressured (max): ${fmtPercent(l.backPressured)}`,
          `Busy (max): ${fmtPercent(l.busy)}`,
          `Low watermark: ${fmtWatermarkShort(l.lowWatermark)}`,
        ],
      };
    }
    const select = (vid) => {
      ui.selectedVertex.set(jid, vid === ui.selectedVertex.get(jid) ? null : vid);
      tick();
    };
    els.graphBox.replaceChildren(drawGraph(d.plan, info, { selected, onSelect: select }));
    const series = d.vertices.map((v) => ({ name: v.name, points: history.map((p) => [p.t, p.values[v.id] ?? 0]) }));
    els.throughput.body.replaceChildren(lineChart(series, { id: 'throughput-chart', empty: TERMINAL.has(d.state) ? 'The job is not running.' : 'Collecting data…' }));
    els.vertices.body.replaceChildren(table(
      [
        { title: 'Name', value: (v) => h('strong', {}, v.name) },
        { title: 'Status', value: (v) => badge(v.status) },
        { title: 'Component', value: (v) => componentLabel(v.component) },
        { title: 'Parallelism', value: (v) => v.parallelism, num: true },
        { title: 'Records Received', value: (v) => fmtCount(v.metrics['read-records']), num: true },
        { title: 'Bytes Received', value: (v) => fmtBytes(v.metrics['read-bytes']), num: true },
        { title: 'Records Sent', value: (v) => fmtCount(v.metrics['write-records']), num: true },
        { title: 'Bytes Sent', value: (v) => fmtBytes(v.metrics['write-bytes']), num: true },
        { title: 'In/s', value: (v) => fmtRate(live[v.id].inRate), num: true },
        { title: 'Out/s', value: (v) => fmtRate(live[v.id].outRate), num: true },
        { title: 'Backpressured (max)', value: (v) => fmtPercent(live[v.id].backPressured), num: true },
        { title: 'Busy (max)', value: (v) => fmtPercent(live[v.id].busy), num: true },
        { title: 'Duration', value: (v) => fmtDuration(v.duration) },
        { title: 'Tasks', value: (v) => taskChips(v.tasks || {}) },
      ],
      d.vertices,
      {
        rowAttrs: (v) => ({
          class: v.id === selected ? 'selected vertex-row' : 'vertex-row',
          'data-vertex': v.id,
          'data-write-records': v.metrics['write-records'],
          'data-read-records': v.metrics['read-records'],
        }),
        onClick: (v) => select(v.id),
      },
    ));
    renderUpgrades(upgrades);
    showFlame(d, selected);
    if (!selected) {
      els.subtasks.body.replaceChildren(h('div', { class: 'empty' }, 'Select an operator in the graph or the table to see its subtasks and their backpressure.'));
      return;
    }
    await refreshSubtasks(d, selected);
  }

  /** The selected operator's guest flame graph, sampled (2 s) when the user asks. */
  function showFlame(d, vid) {
    els.flame.el.hidden = !vid || TERMINAL.has(d.state);
    if (els.flameVertex === vid) return;
    els.flameVertex = vid;
    const vertex = d.vertices.find((v) => v.id === vid);
    if (!vertex) return;
    els.flame.el.querySelector('h2').textContent = `Flame Graph of ${vertex.name} (the guest's WebAssembly stacks)`;
    const out = h('div', { id: 'flame-graph' });
    const sample = h('button', { id: 'flame-sample', type: 'button' }, 'Sample for 2 s');
    sample.onclick = async () => {
      sample.disabled = true;
      out.replaceChildren(h('div', { class: 'empty' }, 'Sampling…'));
      try {
        const graph = await api(`jobs/${jid}/vertices/${vid}/flamegraph?type=ON_CPU`);
        if (els.flameVertex !== vid) return;
        const total = graph.data?.value || 0;
        out.replaceChildren(total
          ? flameNode(graph.data, total)
          : h('div', { class: 'empty' }, 'No samples: the guest did not compute while sampled.'));
      } catch (e) {
        out.replaceChildren(h('div', { class: 'empty' }, String(e.message || e)));
      } finally {
        sample.disabled = false;
      }
    };
    els.flame.body.replaceChildren(sample, out);
  }

  /** A frame as a bar over its callees, each as wide as its share of the samples. */
  function flameNode(node, total) {
    const label = `${node.name} (${node.value} sample${node.value === 1 ? '' : 's'}, ${fmtPercent(node.value / total)})`;
    const children = [...(node.children || [])].sort((a, b) => b.value - a.value);
    return h('div', { class: 'flame-node', style: `flex:0 0 ${(100 * node.value) / (node.parentValue || node.value)}%` },
      h('div', { class: 'flame-frame', title: label, 'data-name': node.name, 'data-value': node.value }, node.name),
      children.length ? h('div', { class: 'flame-children' }, children.map((c) => flameNode({ ...c, parentValue: node.value }, total))) : null);
  }

  /** The job's upgrades, newest first; the panel shows only once there has been one. */
  function renderUpgrades(upgrades) {
    els.upgrades.el.hidden = !upgrades.length;
    if (!upgrades.length) return;
    els.upgrades.body.replaceChildren(table(
      [
        { title: 'Requested', value: (u) => fmtTime(u.operation['request-time']) },
        { title: 'Result', value: (u) => upgradeBadge(u) },
        { title: 'Mode', value: (u) => u.operation.mode },
        { title: 'Component', value: (u) => componentLabel(u.operation.component, 'upgrade-component') },
        { title: 'Operators', value: (u) => (u.operation.parallelism
          ? `parallelism ${u.operation.parallelism.from.join(',')} → ${u.operation.parallelism.to.join(',')}`
          : (u.operation.operators || []).join(', ') || '-') },
        { title: 'Checkpoint', value: (u) => u.operation['checkpoint-id'] ?? '-', num: true },
        { title: 'Duration', value: (u) => fmtDuration(u.operation.duration), num: true },
        { title: 'Swap', value: (u) => fmtDuration(u.operation['swap-duration']), num: true },
        { title: 'Cause', value: (u) => (u.operation['failure-cause'] ? causeText(u.operation['failure-cause']) : '-'), wrap: true },
      ],
      upgrades,
      { rowAttrs: (u) => ({ class: 'upgrade-row', 'data-request': u.operation.id, 'data-result': u.operation.result || u.status.id }) },
    ));
  }

  async function refreshSubtasks(d, vid) {
    const vertex = d.vertices.find((v) => v.id === vid);
    if (!vertex) return;
    const ids = [];
    for (let i = 0; i < vertex.parallelism; i++) for (const m of ['numRecordsInPerSecond', 'numRecordsOutPerSecond', 'Shuffle.Netty.Output.Buffers.outPoolUsage', 'Shuffle.Netty.Input.Buffers.inPoolUsage']) ids.push(`${i}.${m}`);
    const [detail, pressure, marks, metrics] = await Promise.all([
      api(`jobs/${jid}/vertices/${vid}`),
      api(`jobs/${jid}/vertices/${vid}/backpressure`),
      api(`jobs/${jid}/vertices/${vid}/watermarks`).catch(() => []),
      api(`jobs/${jid}/vertices/${vid}/metrics?get=${ids.join(',')}`).catch(() => []),
    ]);
    const values = Object.fromEntries(metrics.map((m) => [m.id, Number(m.value)]));
    const wm = Object.fromEntries(marks.map((m) => [m.id.split('.')[0], m.value]));
    const bp = Object.fromEntries((pressure.subtasks || []).map((s) => [s.subtask, s]));
    const bar = (ratio) => h('div', { class: 'bar', title: fmtPercent(ratio) }, h('span', { style: `width:${Math.round((ratio || 0) * 100)}%` }));
    els.subtasks.el.querySelector('h2').textContent = `Subtasks of ${vertex.name} · backpressure: ${pressure['backpressure-level'] || pressure.status}`;
    els.subtasks.body.replaceChildren(table(
      [
        { title: '#', value: (s) => s.subtask, num: true },
        { title: 'Status', value: (s) => badge(s.status) },
        { title: 'Host', value: (s) => s.host },
        { title: 'Duration', value: (s) => fmtDuration(s.duration) },
        { title: 'Records In', value: (s) => fmtCount(s.metrics['read-records']), num: true },
        { title: 'Records Out', value: (s) => fmtCount(s.metrics['write-records']), num: true },
        { title: 'In/s', value: (s) => fmtRate(values[`${s.subtask}.numRecordsInPerSecond`]), num: true },
        { title: 'Out/s', value: (s) => fmtRate(values[`${s.subtask}.numRecordsOutPerSecond`]), num: true },
        { title: 'Backpressure', value: (s) => (bp[s.subtask] ? h('span', {}, badge(bp[s.subtask]['backpressure-level'], `level-${bp[s.subtask]['backpressure-level']}`), ' ', fmtPercent(bp[s.subtask].ratio)) : '-') },
        { title: 'Busy', value: (s) => (bp[s.subtask] ? bar(bp[s.subtask].busyRatio) : '-') },
        { title: 'Idle', value: (s) => (bp[s.subtask] ? bar(bp[s.subtask].idleRatio) : '-') },
        { title: 'Out Pool', value: (s) => fmtPercent(values[`${s.subtask}.Shuffle.Netty.Output.Buffers.outPoolUsage`]), num: true },
        { title: 'In Pool', value: (s) => fmtPercent(values[`${s.subtask}.Shuffle.Netty.Input.Buffers.inPoolUsage`]), num: true },
        { title: 'Watermark', value: (s) => fmtWatermark(wm[String(s.subtask)]) },
        { title: 'TaskManager', value: (s) => h('a', { href: `#/taskmanager/${encodeURIComponent(s['taskmanager-id'])}` }, s['taskmanager-id']) },
      ],
      detail.subtasks || [],
      { rowAttrs: (s) => ({ class: 'subtask-row', 'data-subtask': s.subtask }) },
    ));
  }

  async function refreshExceptions() {
    const ex = await api(`jobs/${jid}/exceptions?maxExceptions=20`);
    const entries = ex.exceptionHistory?.entries || [];
    const root = panel('Root Exception', { id: 'root-exception' });
    root.body.replaceChildren(ex['root-exception'] ? h('pre', { class: 'trace' }, ex['root-exception']) : h('div', { class: 'empty' }, 'No exceptions: the job has not failed.'));
    const history = panel('Exception History', { flush: true });
    history.body.replaceChildren(table(
      [
        { title: 'Time', value: (e) => fmtTime(e.timestamp) },
        { title: 'Exception', value: (e) => e.exceptionName },
        { title: 'Task', value: (e) => e.taskName || '-' },
        { title: 'Location', value: (e) => e.location || '-' },
        { title: 'Details', value: (e) => h('pre', { class: 'trace' }, e.stacktrace), wrap: true },
      ],
      entries,
      { empty: 'No exceptions.' },
    ));
    body.replaceChildren(root.el, history.el);
  }

  async function refreshCheckpoints() {
    let stats;
    try {
      stats = await api(`jobs/${jid}/checkpoints`);
    } catch (e) {
      if (e.status === 404) {
        body.replaceChildren(h('section', { class: 'panel', id: 'no-checkpoints' }, h('div', { class: 'empty' }, 'No checkpoints: there are no checkpoint statistics for this job.')));
        return;
      }
      throw e;
    }
    const counts = stats.counts || {};
    const latest = stats.latest?.completed;
    const history = stats.history || [];
    const sizes = ui.checkpointSizes.get(jid) || new Map();
    ui.checkpointSizes.set(jid, sizes);
    for (const c of history) {
      if (c.status === 'COMPLETED') sizes.set(c.id, { t: c.latest_ack_timestamp || c.trigger_timestamp, size: c.checkpointed_size ?? c.state_size ?? 0, full: c.state_size ?? 0, duration: c.end_to_end_duration ?? 0 });
    }
    const points = [...sizes.entries()].sort((a, b) => a[0] - b[0]).slice(-HISTORY_POINTS);
    const cards = h('div', { class: 'cards' },
      card('Triggered', counts.total ?? 0), card('In Progress', counts.in_progress ?? 0), card('Completed', counts.completed ?? 0),
      card('Failed', counts.failed ?? 0), card('Restored', counts.restored ?? 0));
    const latestPanel = panel('Latest Completed Checkpoint');
    latestPanel.body.replaceChildren(latest
      ? h('dl', { class: 'kv' },
        h('dt', {}, 'ID'), h('dd', {}, latest.id),
        h('dt', {}, 'Completed'), h('dd', {}, fmtTime(latest.latest_ack_timestamp)),
        h('dt', {}, 'Checkpointed Size'), h('dd', {}, fmtBytes(latest.checkpointed_size)),
        h('dt', {}, 'Full Size'), h('dd', {}, fmtBytes(latest.state_size)),
        h('dt', {}, 'End to End Duration'), h('dd', {}, fmtDuration(latest.end_to_end_duration)),
        h('dt', {}, 'Path'), h('dd', {}, latest.external_path || '-'))
      : h('div', { class: 'empty' }, 'No completed checkpoint yet.'));
    const sizePanel = panel('Checkpoint Sizes');
    sizePanel.body.replaceChildren(lineChart(
      [
        { name: 'checkpointed size', points: points.map(([, c]) => [c.t, c.size]) },
        { name: 'full size', points: points.map(([, c]) => [c.t, c.full]) },
      ],
      { id: 'checkpoint-chart', yFormat: fmtBytes, dots: true, width: 480, empty: 'No completed checkpoints to plot yet.' },
    ));
    const durationPanel = panel('Checkpoint Durations');
    durationPanel.body.replaceChildren(lineChart([{ name: 'end to end', points: points.map(([, c]) => [c.t, c.duration]) }], { yFormat: fmtDuration, dots: true, empty: 'No completed checkpoints to plot yet.' }));
    const historyPanel = panel('History', { flush: true });
    historyPanel.body.replaceChildren(table(
      [
        { title: 'ID', value: (c) => c.id, num: true },
        { title: 'Status', value: (c) => h('span', { class: `badge ${CHECKPOINT_STATES[c.status] || 'RUNNING'}` }, c.status) },
        { title: 'Type', value: (c) => c.checkpoint_type || (c.is_savepoint ? 'SAVEPOINT' : 'CHECKPOINT') },
        { title: 'Triggered', value: (c) => fmtTime(c.trigger_timestamp) },
        { title: 'Duration', value: (c) => fmtDuration(c.end_to_end_duration) },
        { title: 'Checkpointed Size', value: (c) => fmtBytes(c.checkpointed_size), num: true },
        { title: 'Full Size', value: (c) => fmtBytes(c.state_size), num: true },
        { title: 'Acknowledged', value: (c) => `${c.num_acknowledged_subtasks ?? '-'}/${c.num_subtasks ?? '-'}` },
        { title: 'Path / Failure', value: (c) => c.external_path || c.failure_message || '-', wrap: true },
      ],
      history,
      { empty: 'No checkpoints yet.' },
    ));
    body.replaceChildren(cards, h('div', { class: 'two' }, latestPanel.el, sizePanel.el), durationPanel.el, historyPanel.el);
  }

  async function refreshWatermarks(d) {
    const marks = await Promise.all(d.vertices.map((v) => api(`jobs/${jid}/vertices/${v.id}/watermarks`).catch(() => [])));
    const rows = [];
    d.vertices.forEach((v, i) => {
      for (const m of marks[i]) rows.push({ vertex: v.name, subtask: m.id.split('.')[0], value: m.value });
    });
    const p = panel('Current Input Watermarks', { flush: true, id: 'watermarks-panel' });
    p.body.replaceChildren(table(
      [
        { title: 'Operator', value: (r) => r.vertex },
        { title: 'Subtask', value: (r) => r.subtask, num: true },
        { title: 'Watermark', value: (r) => fmtWatermark(r.value) },
        { title: 'Raw', value: (r) => r.value, num: true },
      ],
      rows,
      { empty: 'No watermarks reported yet.' },
    ));
    body.replaceChildren(p.el);
  }

  async function refreshConfiguration(d) {
    const config = await api(`jobs/${jid}/config`);
    const ec = config['execution-config'] || {};
    const p = panel('Execution Configuration');
    p.body.replaceChildren(h('dl', { class: 'kv' },
      h('dt', {}, 'Execution Mode'), h('dd', {}, ec['execution-mode']),
      h('dt', {}, 'Restart Strategy'), h('dd', {}, ec['restart-strategy']),
      h('dt', {}, 'Job Parallelism'), h('dd', {}, ec['job-parallelism']),
      h('dt', {}, 'Object Reuse Mode'), h('dd', {}, String(ec['object-reuse-mode'])),
      h('dt', {}, 'Program Arguments'), h('dd', {}, h('code', {}, ec['user-config']?.['program-args'] || '(none)'))));
    const plan = panel('Plan', { flush: true });
    plan.body.replaceChildren(h('div', { class: 'graph-wrap' }, drawGraph(d.plan)));
    body.replaceChildren(p.el, plan.el);
  }

  page.refresh = async () => {
    const d = await api(`jobs/${jid}`);
    renderHeader(d);
    if (tab === 'overview') await refreshOverview(d);
    else if (tab === 'exceptions') await refreshExceptions();
    else if (tab === 'checkpoints') await refreshCheckpoints();
    else if (tab === 'watermarks') await refreshWatermarks(d);
    else if (tab === 'configuration') await refreshConfiguration(d);
  };
  return page;
}

function taskManagersPage() {
  let list;
  return {
    title: 'Task Managers',
    nav: 'taskmanagers',
    mount(el) {
      list = panel(null, { flush: true, id: 'taskmanagers-panel' });
      append(el, [list.el]);
    },
    async refresh() {
      const tms = (await api('taskmanagers')).taskmanagers || [];
      list.body.replaceChildren(table(
        [
          { title: 'ID', value: (t) => h('a', { href: `#/taskmanager/${encodeURIComponent(t.id)}` }, t.id) },
          { title: 'Data Port', value: (t) => t.dataPort, num: true },
          { title: 'Last Heartbeat', value: (t) => fmtTime(t.timeSinceLastHeartbeat) },
          { title: 'All Slots', value: (t) => t.slotsNumber, num: true },
          { title: 'Free Slots', value: (t) => t.freeSlots, num: true },
          { title: 'CPU Cores', value: (t) => t.hardware?.cpuCores, num: true },
          { title: 'Physical Memory', value: (t) => fmtBytes(t.hardware?.physicalMemory), num: true },
          { title: 'Free Memory', value: (t) => fmtBytes(t.hardware?.freeMemory), num: true },
        ],
        tms,
        {
          empty: 'No TaskManager has registered.',
          rowAttrs: (t) => ({ class: 'tm-row', 'data-tm': t.id, 'data-slots': t.slotsNumber }),
          onClick: (t) => {
            location.hash = `#/taskmanager/${encodeURIComponent(t.id)}`;
          },
        },
      ));
    },
  };
}

const TM_METRICS = ['Status.JVM.CPU.Load', 'Status.Process.Memory.Resident', 'Status.JVM.Threads.Count', 'Status.Tasks.Running', 'Status.Wasm.Instances', 'Status.Wasm.Memory.Used', 'Status.Slots.Total', 'Status.Slots.Free'];

function taskManagerPage(id) {
  let cards;
  let charts;
  let slots;
  let all;
  return {
    title: `Task Manager ${id}`,
    nav: 'taskmanagers',
    mount(el) {
      cards = h('div', { class: 'cards' });
      charts = h('div', { class: 'two' });
      slots = panel('Allocated Slots', { flush: true });
      all = panel('All Metrics', { flush: true });
      append(el, [managerTabs(`/taskmanager/${encodeURIComponent(id)}`, ''), cards, charts, slots.el, all.el]);
    },
    async refresh() {
      const enc = encodeURIComponent(id);
      const [detail, values, ids] = await Promise.all([
        api(`taskmanagers/${enc}`),
        api(`taskmanagers/${enc}/metrics?get=${TM_METRICS.join(',')}`),
        api(`taskmanagers/${enc}/metrics`),
      ]);
      const m = Object.fromEntries(values.map((e) => [e.id, Number(e.value)]));
      cards.replaceChildren(
        card('CPU Load', fmtPercent(m['Status.JVM.CPU.Load'])),
        card('Resident Memory', fmtBytes(m['Status.Process.Memory.Resident'])),
        card('Threads', fmtCount(m['Status.JVM.Threads.Count'])),
        card('Slots', [String(m['Status.Slots.Free'] ?? detail.freeSlots), h('small', {}, ' free of '), String(m['Status.Slots.Total'] ?? detail.slotsNumber)]),
        card('Tasks', fmtCount(m['Status.Tasks.Running'])),
        card('WASM Instances', fmtCount(m['Status.Wasm.Instances'])),
        card('WASM Memory', fmtBytes(m['Status.Wasm.Memory.Used'])),
      );
      const history = ui.tmHistory.get(id) || [];
      ui.tmHistory.set(id, history);
      remember(history, { t: Date.now(), cpu: m['Status.JVM.CPU.Load'] || 0, rss: m['Status.Process.Memory.Resident'] || 0, wasm: m['Status.Wasm.Memory.Used'] || 0 });
      const cpu = panel('CPU Load');
      cpu.body.append(lineChart([{ name: 'CPU load', points: history.map((p) => [p.t, p.cpu]) }], { yFormat: fmtPercent, width: 480, height: 200 }));
      const mem = panel('Memory');
      mem.body.append(lineChart([
        { name: 'resident', points: history.map((p) => [p.t, p.rss]) },
        { name: 'WASM linear memory', points: history.map((p) => [p.t, p.wasm]) },
      ], { yFormat: fmtBytes, width: 480, height: 200 }));
      charts.replaceChildren(cpu.el, mem.el);
      slots.body.replaceChildren(table(
        [{ title: 'Job', value: (s) => h('a', { href: `#/job/${s.jobId}` }, s.jobId) }],
        detail.allocatedSlots || [],
        { empty: 'All slots are free.' },
      ));
      const allValues = ids.length ? await api(`taskmanagers/${enc}/metrics?get=${ids.map((e) => e.id).join(',')}`) : [];
      all.body.replaceChildren(table([{ title: 'Metric', value: (e) => e.id }, { title: 'Value', value: (e) => e.value, num: true }], allValues));
    },
  };
}

function jobManagerPage() {
  let cards;
  let metrics;
  let config;
  return {
    title: 'Job Manager',
    nav: 'jobmanager',
    mount(el) {
      cards = h('div', { class: 'cards' });
      metrics = panel('Metrics', { flush: true });
      config = panel('Configuration', { flush: true });
      append(el, [managerTabs('/jobmanager', ''), cards, h('div', { class: 'two' }, metrics.el, config.el)]);
    },
    async refresh() {
      const ids = await api('jobmanager/metrics');
      const [values, conf] = await Promise.all([api(`jobmanager/metrics?get=${ids.map((e) => e.id).join(',')}`), api('jobmanager/config')]);
      const m = Object.fromEntries(values.map((e) => [e.id, Number(e.value)]));
      cards.replaceChildren(
        card('CPU Load', fmtPercent(m['Status.JVM.CPU.Load'])),
        card('Resident Memory', fmtBytes(m['Status.Process.Memory.Resident'])),
        card('Threads', fmtCount(m['Status.JVM.Threads.Count'])),
        card('Task Managers', fmtCount(m.numRegisteredTaskManagers)),
        card('Running Jobs', fmtCount(m.numRunningJobs)),
      );
      metrics.body.replaceChildren(table([{ title: 'Metric', value: (e) => e.id }, { title: 'Value', value: (e) => e.value, num: true }], values));
      config.body.replaceChildren(table([{ title: 'Key', value: (e) => e.key }, { title: 'Value', value: (e) => e.value, wrap: true }], conf));
    },
  };
}

// ---------------------------------------------------------------- logs and thread dumps

/** The tabs of the Job Manager's and a Task Manager's pages. */
function managerTabs(base, active) {
  const tabs = [['', 'Metrics'], ['logs', 'Logs'], ['thread-dump', 'Thread Dump']];
  return h('nav', { class: 'tabs' }, tabs.map(([t, name]) => h('a', { href: `#${base}${t ? `/${t}` : ''}`, class: t === active ? 'active' : null, id: `tab-${t || 'metrics'}` }, name)));
}

/** Reads part of a log file as text: from byte `start`, with the file's size (`X-Log-Size`). */
async function logText(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, `${response.status}: ${text}`);
  return { text, size: Number(response.headers.get('X-Log-Size')) || 0 };
}

/** The most log text the page keeps (older lines are dropped as the log grows). */
const LOG_KEEP = 1 << 20;

/** A process's log files, one shown and followed as it grows (`?start=` reads only what is new). */
function logsPage(title, nav, base, apiBase) {
  let files;
  let view;
  let pre;
  let follow;
  let selected = null;
  let offset = 0;
  function show(name) {
    selected = name;
    offset = 0;
    pre.textContent = '';
    view.el.querySelector('h2').textContent = name ? `Log: ${name}` : 'Log';
  }
  return {
    title,
    nav,
    mount(el) {
      files = panel('Log Files', { flush: true, id: 'log-files' });
      view = panel('Log', { id: 'log-view' });
      follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
      pre = h('pre', { class: 'trace log', id: 'log-text' });
      view.body.append(h('label', { class: 'follow' }, follow, ' follow the log'), pre);
      append(el, [managerTabs(base, 'logs'), files.el, view.el]);
    },
    async refresh() {
      const { logs } = await api(`${apiBase}/logs`);
      if (!logs.some((l) => l.name === selected)) show(logs.length ? logs[0].name : null);
      files.body.replaceChildren(table(
        [
          { title: 'File', value: (l) => l.name },
          { title: 'Size', value: (l) => fmtBytes(l.size), num: true },
          { title: 'Last Modified', value: (l) => fmtTime(l.mtime) },
        ],
        logs,
        {
          empty: 'This process keeps no log files.',
          rowAttrs: (l) => ({ class: l.name === selected ? 'log-row selected' : 'log-row', 'data-log': l.name }),
          onClick: (l) => {
            show(l.name);
            tick();
          },
        },
      ));
      if (!selected) return;
      const part = await logText(`${apiBase}/logs/${encodeURIComponent(selected)}?start=${offset}`);
      if (part.size < offset) {
        // The file was rotated: it starts again.
        show(selected);
        return;
      }
      if (part.text) {
        pre.append(part.text);
        if (pre.textContent.length > LOG_KEEP) pre.textContent = pre.textContent.slice(-LOG_KEEP);
        if (follow.checked) pre.scrollTop = pre.scrollHeight;
      }
      offset = part.size;
    },
  };
}

/** A process's threads: name, state and where they wait. */
function threadDumpPage(title, nav, base, apiBase) {
  let dump;
  return {
    title,
    nav,
    mount(el) {
      dump = panel('Threads', { id: 'thread-dump' });
      append(el, [managerTabs(base, 'thread-dump'), dump.el]);
    },
    async refresh() {
      const { threadInfos } = await api(`${apiBase}/thread-dump`);
      dump.body.replaceChildren(...threadInfos.map((t) => h('pre', { class: 'trace thread', 'data-thread': t.threadName }, t.stringifiedThreadInfo)));
    },
  };
}

function submitPage() {
  let jarsPanel;
  let runPanel;
  let planPanel;
  let selected = null;
  const form = {};

  function runBody() {
    const body = {};
    if (form.args.value.trim()) body.programArgs = form.args.value.trim();
    if (form.parallelism.value.trim()) body.parallelism = Number(form.parallelism.value.trim());
    if (form.savepoint.value.trim()) body.savepointPath = form.savepoint.value.trim();
    if (form.allowNonRestored.checked) body.allowNonRestoredState = true;
    return body;
  }

  async function upload() {
    const file = form.file.files[0];
    if (!file) {
      notify('Choose a job component (.wasm or .jar) to upload first.');
      return;
    }
    const data = new FormData();
    data.append('jarfile', file, file.name);
    form.upload.disabled = true;
    try {
      const answer = await api('jars/upload', { method: 'POST', body: data });
      selected = answer.filename.split('/').pop();
      notify(`Uploaded ${file.name}.`, 'success');
      form.file.value = '';
      await tick();
    } catch (e) {
      notify(`Upload failed: ${e.message}`);
    } finally {
      form.upload.disabled = false;
    }
  }

  async function run() {
    if (!selected) return;
    form.submit.disabled = true;
    try {
      const answer = await postJson(`jars/${encodeURIComponent(selected)}/run`, runBody());
      clearNotice();
      location.hash = `#/job/${answer.jobid}`;
    } catch (e) {
      notify(`Submitting the job failed: ${e.message}`);
    } finally {
      form.submit.disabled = false;
    }
  }

  async function showPlan() {
    if (!selected) return;
    try {
      const answer = await postJson(`jars/${encodeURIComponent(selected)}/plan`, runBody());
      planPanel.el.hidden = false;
      planPanel.body.replaceChildren(h('div', { class: 'graph-wrap' }, drawGraph(answer.plan)));
    } catch (e) {
      notify(`Planning the job failed: ${e.message}`);
    }
  }

  async function remove() {
    if (!selected) return;
    try {
      await api(`jars/${encodeURIComponent(selected)}`, { method: 'DELETE' });
      selected = null;
      await tick();
    } catch (e) {
      notify(`Deleting the jar failed: ${e.message}`);
    }
  }

  return {
    title: 'Submit New Job',
    nav: 'submit',
    mount(el) {
      form.file = h('input', { type: 'file', id: 'jar-file', accept: '.wasm,.jar' });
      form.upload = h('button', { class: 'primary', id: 'upload-jar', type: 'button', onclick: upload }, 'Upload');
      const uploadPanel = panel('Upload a Job Component');
      append(uploadPanel.body, [h('div', { class: 'upload' }, form.file, form.upload, h('span', { style: 'color:var(--muted)' }, 'A WebAssembly job component (Flink’s jar): .wasm or .jar.'))]);
      jarsPanel = panel('Uploaded Jars', { flush: true, id: 'jars-panel' });
      form.args = h('input', { type: 'text', id: 'run-args', placeholder: '--bootstrap.servers kafka:9092 --checkpointing --event-time' });
      form.parallelism = h('input', { type: 'number', id: 'run-parallelism', min: 1, placeholder: 'default' });
      form.savepoint = h('input', { type: 'text', id: 'run-savepoint', placeholder: 'optional: a savepoint to start from' });
      form.allowNonRestored = h('input', { type: 'checkbox', id: 'run-allow-non-restored' });
      form.submit = h('button', { class: 'primary', id: 'run-submit', type: 'button', onclick: run }, 'Submit');
      form.plan = h('button', { id: 'run-plan', type: 'button', onclick: showPlan }, 'Show Plan');
      form.remove = h('button', { class: 'danger', id: 'delete-jar', type: 'button', onclick: remove }, 'Delete');
      form.jarName = h('strong', { id: 'run-jar' });
      runPanel = panel('Run', { id: 'run-panel' });
      append(runPanel.body, [h('div', { class: 'form-grid' },
        h('label', {}, 'Jar'), form.jarName,
        h('label', { for: 'run-args' }, 'Program Arguments'), form.args,
        h('label', { for: 'run-parallelism' }, 'Parallelism'), form.parallelism,
        h('label', { for: 'run-savepoint' }, 'Savepoint Path'), form.savepoint,
        h('label', { for: 'run-allow-non-restored' }, 'Allow Non-Restored State'), h('div', {}, form.allowNonRestored),
        h('span', {}), h('div', { class: 'actions' }, form.submit, form.plan, form.remove))]);
      runPanel.el.hidden = true;
      planPanel = panel('Plan', { flush: true, id: 'plan-panel' });
      planPanel.el.hidden = true;
      append(el, [uploadPanel.el, jarsPanel.el, runPanel.el, planPanel.el]);
    },
    async refresh() {
      const jars = (await api('jars')).files || [];
      if (selected && !jars.some((j) => j.id === selected)) selected = null;
      jarsPanel.body.replaceChildren(table(
        [
          { title: 'Name', value: (j) => j.name },
          { title: 'Upload Time', value: (j) => fmtTime(j.uploaded) },
          { title: 'ID', value: (j) => h('code', {}, j.id) },
        ],
        jars,
        {
          empty: 'No jars uploaded yet.',
          rowAttrs: (j) => ({ class: j.id === selected ? 'jar-row selected' : 'jar-row', 'data-jar': j.id, 'data-name': j.name }),
          onClick: (j) => {
            selected = j.id;
            planPanel.el.hidden = true;
            tick();
          },
        },
      ));
      runPanel.el.hidden = !selected;
      form.jarName.textContent = selected ? jars.find((j) => j.id === selected)?.name || selected : '';
    },
  };
}

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^\/overview$/, () => overviewPage()],
  [/^\/jobs\/running$/, () => jobsPage('running')],
  [/^\/jobs\/completed$/, () => jobsPage('completed')],
  [/^\/job\/([0-9a-fA-F]{32})(?:\/(\w+))?$/, (m) => jobPage(m[1].toLowerCase(), m[2] || 'overview')],
  [/^\/taskmanagers$/, () => taskManagersPage()],
  [/^\/taskmanager\/([^/]+)\/logs$/, (m) => logsPage(`Task Manager ${decodeURIComponent(m[1])}`, 'taskmanagers', `/taskmanager/${m[1]}`, `taskmanagers/${m[1]}`)],
  [/^\/taskmanager\/([^/]+)\/thread-dump$/, (m) => threadDumpPage(`Task Manager ${decodeURIComponent(m[1])}`, 'taskmanagers', `/taskmanager/${m[1]}`, `taskmanagers/${m[1]}`)],
  [/^\/taskmanager\/(.+)$/, (m) => taskManagerPage(decodeURIComponent(m[1]))],
  [/^\/jobmanager$/, () => jobManagerPage()],
  [/^\/jobmanager\/logs$/, () => logsPage('Job Manager', 'jobmanager', '/jobmanager', 'jobmanager')],
  [/^\/jobmanager\/thread-dump$/, () => threadDumpPage('Job Manager', 'jobmanager', '/jobmanager', 'jobmanager')],
  [/^\/submit$/, () => submitPage()],
];

/** Refreshes the current page once (never two at a time). */
async function tick() {
  const page = ui.page;
  if (!page || ui.ticking) return;
  ui.ticking = true;
  try {
    await page.refresh();
    if (page === ui.page) setLive(true);
  } catch (e) {
    if (page === ui.page) {
      setLive(false, e.message);
      if (e instanceof ApiError && e.status === 404 && page.nav !== 'submit') notify(e.message);
    }
  } finally {
    ui.ticking = false;
  }
}

function navigate() {
  const path = location.hash.replace(/^#/, '') || '/overview';
  let page = null;
  for (const [pattern, make] of ROUTES) {
    const m = path.match(pattern);
    if (m) {
      page = make(m);
      break;
    }
  }
  if (!page) {
    location.hash = '#/overview';
    return;
  }
  clearInterval(ui.timer);
  ui.page = page;
  ui.ticking = false;
  const content = document.getElementById('content');
  content.replaceChildren();
  document.getElementById('title').textContent = page.title;
  document.title = `${page.title} · Weir`;
  for (const a of document.querySelectorAll('#sidebar nav a')) a.classList.toggle('active', a.dataset.nav === page.nav);
  page.mount(content);
  tick();
  ui.timer = setInterval(tick, ui.refreshMs);
}

async function start() {
  document.getElementById('notice-close').addEventListener('click', clearNotice);
  setupLogin();
  try {
    const config = await api('config');
    ui.refreshMs = Math.max(1000, Number(config['refresh-interval']) || 3000);
    document.getElementById('version').textContent = `Flink API ${config['flink-version']} · ${config['flink-revision']}`;
  } catch (e) {
    setLive(false, e.message);
  }
  window.addEventListener('hashchange', () => {
    clearNotice();
    navigate();
  });
  navigate();
}

start();
