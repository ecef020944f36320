/* heapgraph HTML report: renders the embedded data (script#hg-data, format
 * heapgraph-html/2, see docs/html-report.md) into the page. Every string that
 * comes from the capture reaches the DOM through textContent or an attribute
 * setter, never through innerHTML, so symbol names and paths cannot inject
 * markup. The flame graph and the timeline are canvases: only the frames wider
 * than half a pixel are drawn, so a capture with 100,000 stacks stays fluid. */
(function () {
'use strict';

const DATA = JSON.parse(document.getElementById('hg-data').textContent);
const REPORT = DATA.report;
const FRAMES = DATA.frames || [], ENTRIES = DATA.stacks || [];
const ROW = 18;                      /* flame graph row height, CSS pixels */
const MAX_ROWS = 500;                /* table rows rendered at once */
const MAX_TYPES = 25;                /* Python types listed per snapshot */
const KINDS = ['definite', 'cycle', 'indirect', 'possible', 'reachable'];
const METRIC_NAMES = { l: 'leaked bytes', p: 'bytes at peak', b: 'bytes allocated',
                       n: 'allocations', t: 'temporary allocations' };

const state = {
    pi: 0,          /* process index */
    proc: null,     /* REPORT.processes[pi] */
    view: null,     /* DATA.views[pi], with decoded sites */
    range: null,    /* [t1_us, t2_us] selected on the timeline, or null */
    metric: 'l',
    icicle: false,
    search: '',
    zoom: null,     /* flame node zoomed into, or null */
    tree: null,
    treeKey: '',
    rangeId: 0,     /* bumped on every range change: invalidates cached site figures */
    rects: [],      /* flame frames drawn last time: {x, y, w, h, node} */
    sortCol: 'b',
    filter: ''
};

/* ---- small helpers ---------------------------------------------------- */

function $(id) { return document.getElementById(id); }

/* Creates an element; string children become text nodes (never markup). */
function el(tag, attrs) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
        if (k === 'class') e.className = attrs[k];
        else if (k === 'text') e.textContent = attrs[k];
        else e.setAttribute(k, attrs[k]);
    }
    for (let i = 2; i < arguments.length; i++) {
        const c = arguments[i];
        if (c === null || c === undefined) continue;
        e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return e;
}

function svgEl(tag, attrs) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
}

function fmtInt(n) { return Number(n).toLocaleString('en-US'); }

function blocks(n) { return fmtInt(n) + (Number(n) === 1 ? ' block' : ' blocks'); }

function fmtBytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = Number(n), u = 0;
    while (Math.abs(v) >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return u === 0 ? fmtInt(v) + ' B' : v.toFixed(v < 10 ? 2 : 1) + ' ' + units[u];
}

function fmtMetric(m, v) {
    return (m === 'n' || m === 't') ? fmtInt(v) : fmtInt(v) + ' B' + (v >= 1024 ? ' (' + fmtBytes(v) + ')' : '');
}

function fmtDuration(us) {
    if (us === null || us === undefined) return 'unknown';
    if (us < 1000) return fmtInt(us) + ' \u00b5s';
    if (us < 1e6) return (us / 1000).toFixed(1) + ' ms';
    return (us / 1e6).toFixed(us < 6e7 ? 3 : 1) + ' s';
}

function frameLabel(f) {
    if (f.function) return f.function;
    return basename(f.module || '?') + '+0x' + Number(f.offset || 0).toString(16);
}

function frameLoc(f) {
    return f.file ? f.file + (f.line ? ':' + f.line : '') : (f.module || '');
}

function basename(p) { return String(p).replace(/.*\//, ''); }

/* ---- data decoding ---------------------------------------------------- */

/* Stacks are written once (DATA.frames, DATA.stacks: entries [frame,
 * caller]) and named by their innermost entry. */
const pathCache = new Map();
function framePath(id) {
    if (id === null || id === undefined) return [];
    let p = pathCache.get(id);
    if (!p) {
        p = [];
        for (let e = id; e !== null && e !== undefined; e = ENTRIES[e][1]) p.push(ENTRIES[e][0]);
        pathCache.set(id, p);
    }
    return p;
}

function stackFrames(id) {
    return framePath(id).map(function (i) { return FRAMES[i]; });
}

/* The report's stacks and retention steps as frame lists, as the page reads them. */
function decodeReport(o) {
    if (Array.isArray(o)) { o.forEach(decodeReport); return; }
    if (!o || typeof o !== 'object') return;
    Object.keys(o).forEach(function (k) {
        const v = o[k];
        if (k === 'stack' && (v === null || typeof v === 'number')) o[k] = stackFrames(v);
        else if (k === 'path' && Array.isArray(v) && v.every(Array.isArray))
            o[k] = v.map(function (s) {
                const top = stackFrames(s[2])[0];
                return { size: s[0], offset: s[1], function: top ? top.function : null };
            });
        else decodeReport(v);
    });
}

/* The flame graph's frames [label, file, line, module], shared by every view. */
const VIEW_FRAMES = FRAMES.map(function (f) { return [frameLabel(f), f.file, f.line, f.module]; });

/* A view's sites come as columns; the page works on rows. */
function decodeView(v) {
    const c = v.sites || {}, n = (c.k || []).length, rows = [];
    for (let i = 0; i < n; i++) {
        const s = { k: framePath(c.k[i]), n: c.n[i], b: c.b[i], t: c.t[i], p: c.p[i], l: c.l[i],
                    lb: c.lb[i] };
        if (c.a) { s.a = c.a[i]; s.f = c.f[i]; s.x = c.x[i]; s.z = c.z[i]; }
        rows.push(s);
    }
    v.sites = rows;
    v.frames = VIEW_FRAMES;
    const ser = v.series;
    if (ser) ['heap', 'rss'].forEach(function (k) {   /* each point is the change from the last */
        let at = 0;
        ser[k] = (ser[k] || []).map(function (d) { at += d; return at; });
    });
}

decodeReport(REPORT.processes || []);
(DATA.views || []).forEach(decodeView);

/* Names each site by its innermost frame; its search text is made on the
 * first filter, so that a page with 100,000 sites opens quickly. */
function prepareView(v) {
    if (v.prepared) return v;
    v.sites.forEach(function (s) {
        const top = v.frames[s.k[0]] || ['?', null, 0, '?'];
        s.fn = top[0];
        s.caller = s.k.length > 1 ? v.frames[s.k[1]][0] : '';
        s.loc = top[1] ? top[1] + (top[2] ? ':' + top[2] : '') : top[3];
    });
    v.prepared = true;
    return v;
}

function siteText(s) {
    if (s.text === undefined) {
        const frames = state.view.frames;
        s.text = s.k.map(function (i) {
            const f = frames[i];
            return f[0] + ' ' + (f[1] || '') + ' ' + f[3];
        }).join('\n').toLowerCase();
    }
    return s.text;
}

/* Sum of the counts (bytes: of the bytes) of a delta-coded lifetime list
 * [db, count, bytes, ...] over the buckets in [lo, hi]. */
function sumIn(list, lo, hi, bytes) {
    let s = 0, b = 0;
    for (let i = 0; i + 2 < list.length; i += 3) {
        b += list[i];
        if (b > hi) break;
        if (b >= lo) s += list[i + (bytes ? 2 : 1)];
    }
    return s;
}

/* Value of metric m for site s, restricted to the selected time range:
 * allocations live at some point of the range (made before its end and not
 * freed before its start). Bytes at peak do not depend on the range. The
 * restricted figures are computed once per range and kept on the site. */
function siteValue(s, m) {
    const r = state.range, life = state.view.life;
    if (!r || m === 'p' || !life) return s[m];
    if (s.rangeId !== state.rangeId) {
        const b1 = Math.floor((r[0] - life.t0) / life.dt), b2 = Math.floor((r[1] - life.t0) / life.dt);
        const INF = 1 << 30;
        s.rv = {
            n: s.n - sumIn(s.a, b2 + 1, INF, false) - sumIn(s.f, -INF, b1 - 1, false),
            b: s.b - sumIn(s.a, b2 + 1, INF, true) - sumIn(s.f, -INF, b1 - 1, true),
            t: sumIn(s.x, b1, b2, false),
            l: sumIn(s.z, -INF, b2, true)
        };
        s.rangeId = state.rangeId;
    }
    return s.rv[m];
}

/* ---- header ----------------------------------------------------------- */

function fact(dl, key, label, value, text, extra, cls) {
    const dd = el('dd', { 'data-k': key, 'data-value': String(value) }, text);
    if (extra) dd.appendChild(el('small', null, ' ' + extra));
    dl.appendChild(el('div', cls ? { class: cls } : null, el('dt', null, label), dd));
}

function renderHeader() {
    const p = state.proc, s = p.summary || {};
    const cmd = p.command && p.command.length ? p.command : [p.exe || '?'];
    $('program').textContent = basename(cmd[0]) + '  (pid ' + p.pid + ')';
    document.title = 'heapgraph: ' + basename(cmd[0]);
    $('command').textContent = cmd.join(' ');
    const dl = $('facts');
    dl.textContent = '';
    const ex = p.exit || {};
    if (ex.signal !== undefined && ex.signal !== null)
        fact(dl, 'exit', 'exit', 'signal ' + ex.signal, 'killed by signal ' + ex.signal);
    else if (ex.status !== undefined && ex.status !== null)
        fact(dl, 'exit', 'exit', String(ex.status), 'status ' + ex.status);
    else
        fact(dl, 'exit', 'exit', 'unknown', 'unknown');
    fact(dl, 'duration', 'duration', p.duration_us, fmtDuration(p.duration_us));
    fact(dl, 'allocations', 'allocations', s.allocations, fmtInt(s.allocations));
    fact(dl, 'frees', 'frees', s.frees, fmtInt(s.frees));
    fact(dl, 'allocated_bytes', 'bytes allocated', s.allocated_bytes, fmtBytes(s.allocated_bytes),
         fmtInt(s.allocated_bytes) + ' B');
    const peakAt = p.peak && p.peak.time_us !== undefined && p.start_us !== undefined
        ? 'at ' + fmtDuration(p.peak.time_us - p.start_us) : '';
    fact(dl, 'peak_bytes', 'peak heap', s.peak_bytes, fmtBytes(s.peak_bytes), peakAt);
    fact(dl, 'live_bytes', 'in use at exit', s.live_bytes, fmtBytes(s.live_bytes),
         blocks(s.live_blocks));
    KINDS.forEach(function (k) {
        const c = s[k] || { blocks: 0, bytes: 0 };
        fact(dl, k, k, c.bytes, fmtBytes(c.bytes), blocks(c.blocks), 'k-' + k);
    });
    const cycles = (p.cycles || []).length;
    fact(dl, 'cycles', 'cycles', cycles, fmtInt(cycles));
    renderNotes();
}

function renderNotes() {
    const box = $('notes'), p = state.proc;
    box.textContent = '';
    const lines = [];
    if (REPORT.complete === false) lines.push('The capture is incomplete.');
    if (REPORT.damage) lines.push('Damaged capture at offset ' + REPORT.damage.offset + ': ' +
                                  REPORT.damage.message);
    if (p.snapshot === false)
        lines.push('No exit snapshot for this process: blocks live at the end are listed as "not freed".');
    (REPORT.notes || []).concat(REPORT.warnings || []).forEach(function (n) { lines.push(n); });
    lines.forEach(function (t) { box.appendChild(el('p', null, t)); });
}

/* ---- timeline --------------------------------------------------------- */

const GC_COLOURS = ['#27ae60', '#e67e22', '#c0392b'];   /* generations 0, 1, 2 */

const timeline = { drag: null, geom: null };

function sizeCanvas(c, cssHeight) {
    const dpr = window.devicePixelRatio || 1, w = c.clientWidth || 800;
    c.style.height = cssHeight + 'px';
    c.width = Math.round(w * dpr);
    c.height = Math.round(cssHeight * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { g: g, w: w, h: cssHeight };
}

function renderTimeline() {
    const c = $('timeline'), ser = state.view.series || { heap: [], rss: [] };
    const { g, w, h } = sizeCanvas(c, 180);
    const L = 64, R = 64, T = 26, B = 22;
    /* The axis runs from the process's start to its end, whatever part of
     * it the series covers. */
    const n = Math.max(ser.heap.length, (ser.rss || []).length);
    const v = state.view;
    const t0 = Math.min(ser.t0, v.start_us === undefined ? ser.t0 : v.start_us);
    const span = Math.max(1, Math.max(ser.t0 + n * ser.dt, v.end_us || 0) - t0);
    /* Heap and RSS get their own scales (left and right axis): RSS is often
     * far larger than the heap and would flatten it. */
    let ymax = 1, rmax = 1;
    ser.heap.forEach(function (v) { if (v > ymax) ymax = v; });
    (ser.rss || []).forEach(function (v) { if (v > rmax) rmax = v; });
    const peak = state.view.peak;
    if (peak && peak.bytes > ymax) ymax = peak.bytes;
    const X = function (t) { return L + (t - t0) / span * (w - L - R); };
    const Y = function (v) { return h - B - v / ymax * (h - T - B); };
    const YR = function (v) { return h - B - v / rmax * (h - T - B); };
    timeline.geom = { L: L, R: R, w: w, t0: t0, span: span };
    g.clearRect(0, 0, w, h);
    g.strokeStyle = '#ccc'; g.fillStyle = '#666'; g.font = '11px sans-serif';
    for (let i = 0; i <= 4; i++) {
        const v = ymax * i / 4, y = Y(v);
        g.beginPath(); g.moveTo(L, y); g.lineTo(w - R, y); g.stroke();
        g.fillText(fmtBytes(Math.round(v)), 2, y + 4);
        if (ser.rss && ser.rss.length) g.fillText(fmtBytes(Math.round(rmax * i / 4)), w - R + 4, y + 4);
    }
    for (let i = 0; i <= 5; i++) {
        const t = t0 + span * i / 5;
        g.fillText(fmtDuration(Math.round(t - t0)), X(t) - (i === 5 ? 40 : 0), h - 6);
    }
    if (state.range) {
        g.fillStyle = 'rgba(47,111,179,0.15)';
        g.fillRect(X(state.range[0]), T, X(state.range[1]) - X(state.range[0]), h - T - B);
    }
    const line = function (arr, colour, Yf) {
        if (!arr || !arr.length) return;
        g.strokeStyle = colour; g.lineWidth = 1.5; g.beginPath();
        arr.forEach(function (v, i) {
            const x = X(ser.t0 + (i + 0.5) * ser.dt), y = Yf(v || 0);
            if (i) g.lineTo(x, y); else g.moveTo(x, y);
        });
        g.stroke(); g.lineWidth = 1;
    };
    line(ser.rss, '#9aa5b1', YR);
    line(ser.heap, '#2f6fb3', Y);
    (state.proc.snapshots || []).forEach(function (sn) {
        const x = X(sn.time_us);
        g.strokeStyle = '#8e44ad'; g.setLineDash([3, 3]);
        g.beginPath(); g.moveTo(x, T); g.lineTo(x, h - B); g.stroke();
        g.setLineDash([]);
        g.fillStyle = '#8e44ad';
        g.fillText('snapshot ' + sn.id + (sn.reason === 'exit' ? ' (exit)' : ''), Math.max(L, x - 90), T - 2);
    });
    const gc = state.proc.gc;
    timeline.gcMarks = [];
    (gc ? gc.events : []).forEach(function (e) {
        const x = X(e.time_us);
        timeline.gcMarks.push({ x: x, generation: e.generation });
        g.strokeStyle = GC_COLOURS[e.generation] || GC_COLOURS[2];
        g.beginPath(); g.moveTo(x, h - B); g.lineTo(x, h - B - 6 - 3 * e.generation); g.stroke();
    });
    if (peak && peak.time_us !== undefined) {
        const x = X(peak.time_us), y = Y(peak.bytes);
        g.fillStyle = '#c0392b';
        g.beginPath(); g.arc(x, y, 4, 0, 2 * Math.PI); g.fill();
        const label = 'peak ' + fmtBytes(peak.bytes);
        g.fillText(label, Math.min(x + 6, w - R - g.measureText(label).width), Math.max(y + 4, T + 10));
    }
    g.fillStyle = '#2f6fb3'; g.fillText('\u25a0 heap in use', L, 11);
    g.fillStyle = '#9aa5b1'; g.fillText('\u25a0 RSS (right axis)', L + 100, 11);
    if (gc && gc.events.length) {
        g.fillStyle = GC_COLOURS[2];
        g.fillText('| garbage collections (taller: older generation)', L + 230, 11);
    }
}

function timeAt(clientX) {
    const r = $('timeline').getBoundingClientRect(), gm = timeline.geom;
    const f = (clientX - r.left - gm.L) / (gm.w - gm.L - gm.R);
    return gm.t0 + Math.min(1, Math.max(0, f)) * gm.span;
}

function setRange(r) {
    state.range = r;
    state.rangeId++;
    state.zoom = null;
    const gm = timeline.geom;
    $('range-text').textContent = r && !state.view.life
        ? 'no block lifetimes in this report (' + DATA.lifetimes + '): the range does not filter'
        : r ? 'allocations live between ' + fmtDuration(Math.round(r[0] - gm.t0)) + ' and ' +
          fmtDuration(Math.round(r[1] - gm.t0))
        : 'whole run';
    $('range-clear').hidden = !r;
    renderTimeline(); renderFlame(); renderSites();
}

function initTimeline() {
    const c = $('timeline');
    c.addEventListener('mousedown', function (e) { timeline.drag = { x: e.clientX, t: timeAt(e.clientX) }; });
    window.addEventListener('mousemove', function (e) {
        if (!timeline.drag) return;
        const a = timeline.drag.t, b = timeAt(e.clientX);
        state.range = [Math.min(a, b), Math.max(a, b)];
        renderTimeline();
    });
    window.addEventListener('mouseup', function (e) {
        if (!timeline.drag) return;
        const d = timeline.drag;
        timeline.drag = null;
        if (Math.abs(e.clientX - d.x) < 3) { setRange(null); return; }
        const b = timeAt(e.clientX);
        setRange([Math.min(d.t, b), Math.max(d.t, b)]);
    });
    c.addEventListener('dblclick', function () { setRange(null); });
    $('range-clear').addEventListener('click', function () { setRange(null); });
}

/* ---- flame graph ------------------------------------------------------ */

/* A call-tree node. Most nodes have one child: it sits in `one`, and a Map
 * of children is made only for the second, which keeps 100,000 stacks cheap. */
function newNode(name, parent, frame) {
    return { name: name, frame: frame, parent: parent, one: null, kids: null, v: 0,
             depth: parent ? parent.depth + 1 : 0 };
}

function childOf(n, name, frame) {
    if (!n.one) return (n.one = newNode(name, n, frame));
    if (n.one.name === name) return n.one;
    if (!n.kids) { n.kids = new Map(); n.kids.set(n.one.name, n.one); }
    let c = n.kids.get(name);
    if (!c) { c = newNode(name, n, frame); n.kids.set(name, c); }
    return c;
}

function kidNamed(n, name) {
    return n.kids ? n.kids.get(name) : n.one && n.one.name === name ? n.one : undefined;
}

function eachKid(n, fn) {
    if (n.kids) n.kids.forEach(fn);
    else if (n.one) fn(n.one);
}

/* Builds the call tree (outermost frame at depth 1) weighted by metric m;
 * frames with the same label under the same parent merge. */
function buildTree(m) {
    const v = state.view, root = newNode('all', null, null);
    v.sites.forEach(function (s) {
        const val = siteValue(s, m);
        if (!(val > 0)) return;
        root.v += val;
        let n = root;
        for (let i = s.k.length - 1; i >= 0; i--) {
            const f = v.frames[s.k[i]];
            n = childOf(n, f[0], f);
            n.v += val;
        }
    });
    return root;
}

function hue(name) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
    return h;
}

function frameColour(node, q) {
    if (q && node.name.toLowerCase().indexOf(q) >= 0) return '#d63cd6';
    if (node.name === '(other)') return '#b0b0b0';
    if (!node.parent) return '#c9a66b';
    const h = Math.abs(hue(node.name));
    return 'hsl(' + (5 + h % 45) + ',' + (70 + (h >> 8) % 20) + '%,' + (55 + (h >> 4) % 12) + '%)';
}

/* Lays out the visible frames: the zoomed node and its ancestors span the
 * full width; below it, children share their parent's width by value. */
function layoutFlame(width) {
    const root = state.tree, z = state.zoom || root, rects = [];
    for (let a = z; a; a = a.parent) rects.push({ x: 0, w: width, node: a });
    const stack = [{ node: z, x: 0, w: width }];
    let maxDepth = z.depth;
    while (stack.length) {
        const it = stack.pop();
        let x = it.x;
        eachKid(it.node, function (c) {
            const w = c.v / it.node.v * it.w;
            if (w >= 0.5) {
                rects.push({ x: x, w: w, node: c });
                stack.push({ node: c, x: x, w: w });
                if (c.depth > maxDepth) maxDepth = c.depth;
            }
            x += w;
        });
    }
    return { rects: rects, depth: maxDepth };
}

/* Draws the flame graph; the tree is rebuilt only when the metric, the
 * range or the process changed (zoom, search and icicle only redraw). */
function renderFlame() {
    const m = state.metric, key = m + '|' + state.pi + '|' + (state.range ? state.range.join('-') : '');
    if (state.treeKey !== key) {
        state.tree = buildTree(m);
        state.treeKey = key;
        if (state.zoom && !findSame(state.zoom)) state.zoom = null;
    }
    const c = $('flame'), root = state.tree;
    $('flame-empty').hidden = root.v > 0;
    const width = c.clientWidth || 800;
    const lay = root.v > 0 ? layoutFlame(width) : { rects: [], depth: 0 };
    const h = Math.max(ROW * 4, (lay.depth + 1) * ROW + 4);
    const { g } = sizeCanvas(c, h);
    g.clearRect(0, 0, width, h);
    g.font = '12px ui-monospace, "DejaVu Sans Mono", monospace';
    g.textBaseline = 'middle';
    const q = state.search.toLowerCase();
    state.rects = [];
    lay.rects.forEach(function (r) {
        const y = state.icicle ? r.node.depth * ROW : h - (r.node.depth + 1) * ROW;
        g.fillStyle = frameColour(r.node, q);
        g.fillRect(r.x, y, Math.max(r.w - 1, 0.5), ROW - 1);
        if (r.w > 30) {
            const label = r.node.name === 'all' && !r.node.parent
                ? 'all (' + fmtMetric(m, root.v) + ')' : r.node.name;
            g.fillStyle = '#111';
            g.save(); g.beginPath(); g.rect(r.x, y, r.w - 2, ROW); g.clip();
            g.fillText(label, r.x + 3, y + ROW / 2);
            g.restore();
        }
        state.rects.push({ x: r.x, y: y, w: r.w, h: ROW - 1, node: r.node });
    });
    renderSearchResult(q);
}

/* After a rebuild the zoomed node is a stale object: find its counterpart
 * by the chain of names from the root. */
function findSame(old) {
    const names = [];
    for (let a = old; a.parent; a = a.parent) names.push(a.name);
    let n = state.tree;
    for (let i = names.length - 1; i >= 0 && n; i--) n = kidNamed(n, names[i]);
    state.zoom = n && n.parent ? n : null;
    return state.zoom;
}

function renderSearchResult(q) {
    const out = $('search-result');
    if (!q) { out.textContent = ''; return; }
    let total = 0, frames = 0;
    const stack = [state.tree];
    while (stack.length) {
        const n = stack.pop();
        if (n.parent && n.name.toLowerCase().indexOf(q) >= 0) { total += n.v; frames++; continue; }
        eachKid(n, function (c) { stack.push(c); });
    }
    const pct = state.tree.v ? (100 * total / state.tree.v).toFixed(1) : '0.0';
    out.textContent = frames ? 'matched ' + fmtMetric(state.metric, total) + ' (' + pct + '%)' : 'no match';
}

function rectAt(e) {
    const r = $('flame').getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    for (let i = state.rects.length - 1; i >= 0; i--) {
        const f = state.rects[i];
        if (x >= f.x && x < f.x + f.w && y >= f.y && y < f.y + ROW) return f;
    }
    return null;
}

function showTooltip(e, text) {
    const t = $('tooltip');
    if (!text) { t.hidden = true; return; }
    t.textContent = text;
    t.hidden = false;
    const x = Math.min(e.clientX + 14, window.innerWidth - t.offsetWidth - 8);
    const y = e.clientY + 16 + t.offsetHeight > window.innerHeight ? e.clientY - t.offsetHeight - 8 : e.clientY + 16;
    t.style.left = x + 'px'; t.style.top = y + 'px';
}

function flameTooltip(f) {
    const n = f.node, m = state.metric, root = state.tree.v || 1;
    const lines = [n.parent ? n.name : 'all'];
    if (n.frame && n.frame[1]) lines.push(n.frame[1] + (n.frame[2] ? ':' + n.frame[2] : ''));
    if (n.frame && n.frame[3]) lines.push(n.frame[3]);
    let self = n.v;
    eachKid(n, function (c) { self -= c.v; });
    lines.push(METRIC_NAMES[m] + ': ' + fmtMetric(m, n.v) + ' (' + (100 * n.v / root).toFixed(2) + '%)');
    lines.push('self: ' + fmtMetric(m, self));
    return lines.join('\n');
}

function initFlame() {
    const c = $('flame');
    c.addEventListener('mousemove', function (e) {
        const f = rectAt(e);
        showTooltip(e, f ? flameTooltip(f) : null);
    });
    c.addEventListener('mouseleave', function () { showTooltip(null, null); });
    c.addEventListener('click', function (e) {
        const f = rectAt(e);
        if (!f) return;
        state.zoom = f.node.parent ? f.node : null;
        renderFlame();
    });
    $('flame-reset').addEventListener('click', function () { state.zoom = null; renderFlame(); });
    $('metric').addEventListener('change', function (e) {
        state.metric = e.target.value; state.zoom = null; renderFlame();
    });
    $('icicle').addEventListener('change', function (e) { state.icicle = e.target.checked; renderFlame(); });
    $('search').addEventListener('input', function (e) { state.search = e.target.value; renderFlame(); });
}

/* ---- leaks and cycles ------------------------------------------------- */

function stackList(stack) {
    const ol = el('ol', { class: 'stack' });
    (stack || []).forEach(function (f) {
        ol.appendChild(el('li', null, frameLabel(f) + '  ', el('span', { class: 'loc' }, frameLoc(f))));
    });
    if (!ol.firstChild) ol.appendChild(el('li', { class: 'empty' }, 'no stack recorded'));
    return ol;
}

/* The retention path: the root, then each block down to the entry's, with
 * the offset of the pointer inside the block before it (the first step's
 * offset is inside the root's region, so it is not shown). */
function retention(rb) {
    const box = el('div', { class: 'retained' });
    let root = 'held by ' + rb.kind;
    if (rb.symbol) root += ' ' + rb.symbol;
    if (rb.thread) root += ' of thread ' + rb.thread;
    if (rb.module) root += ' (' + basename(rb.module) + ')';
    box.appendChild(el('div', null, root));
    let path = rb.symbol || rb.kind;
    (rb.path || []).forEach(function (s, i) {
        path += (i ? ' \u2192[+' + s.offset + '] ' : ' \u2192 ') + (s.function || '?') + ' (' + fmtInt(s.size) + ' B)';
    });
    if (rb.path && rb.path.length) box.appendChild(el('div', { class: 'path' }, path));
    return box;
}

function renderLeaks() {
    const box = $('leaks'), leaks = state.proc.leaks || [];
    box.textContent = '';
    if (!leaks.length) { box.appendChild(el('p', { class: 'empty' }, 'No leaks: every block was freed.')); return; }
    leaks.forEach(function (l) {
        const top = (l.stack || [])[0];
        const sum = el('summary', null,
            el('span', { class: 'badge ' + l.kind }, l.kind.replace('_', ' ')),
            el('span', { class: 'what' }, fmtBytes(l.bytes)),
            ' in ' + blocks(l.blocks) + ' ');
        if (l.indirect_bytes > 0)
            sum.appendChild(el('span', { class: 'badge indirect' },
                                '+' + fmtBytes(l.indirect_bytes) + ' indirect in ' + fmtInt(l.indirect_blocks)));
        sum.appendChild(el('code', null, top ? frameLabel(top) : '?'));
        const d = el('details', { class: 'leak', 'data-kind': l.kind }, sum);
        if (l.retained_by) d.appendChild(retention(l.retained_by));
        d.appendChild(stackList(l.stack));
        box.appendChild(d);
    });
    const cut = state.proc.leaks_omitted;
    if (cut) box.appendChild(el('p', { class: 'hint' }, fmtInt(cut.entries) + ' smaller entries (' +
        fmtBytes(cut.bytes) + ') are in the JSON report: heapgraph report --format json --show-reachable'));
}

/* Draws one cycle: members on a circle (at most 24), edges as arrows
 * labelled with the offset of the pointer inside the source member. */
function cycleGraph(cy, ci) {
    const members = cy.members || [], shown = Math.min(members.length, 24);
    const size = shown <= 2 ? 300 : Math.min(520, 220 + shown * 22);
    const cx = size / 2, cyy = size / 2, rad = shown === 1 ? 0 : size / 2 - 60;
    const svg = svgEl('svg', { class: 'cycle-graph', 'data-nodes': shown });
    const defs = svgEl('defs'), mk = svgEl('marker', { id: 'hg-arrow-' + ci, viewBox: '0 0 10 10', refX: 10, refY: 5,
                                                      markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    mk.appendChild(svgEl('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8e44ad' }));
    defs.appendChild(mk); svg.appendChild(defs);
    const pos = [];
    for (let i = 0; i < shown; i++) {
        const a = -Math.PI / 2 + 2 * Math.PI * i / shown;
        pos.push([cx + rad * Math.cos(a), cyy + rad * Math.sin(a)]);
    }
    const W = 112, H = 34;
    /* The view box hugs the nodes (and a self-loop's arc above its node). */
    const xs = pos.map(function (q) { return q[0]; }), ys = pos.map(function (q) { return q[1]; });
    const x0 = Math.min.apply(null, xs) - W / 2 - 12, x1 = Math.max.apply(null, xs) + W / 2 + 50;
    const loops = members.slice(0, shown).some(function (m, i) {
        return (m.points_to || []).some(function (q) { return q.member === i; });
    });
    const y0 = Math.min.apply(null, ys) - H / 2 - (loops ? 70 : 12), y1 = Math.max.apply(null, ys) + H / 2 + 12;
    svg.setAttribute('viewBox', x0 + ' ' + y0 + ' ' + (x1 - x0) + ' ' + (y1 - y0));
    svg.setAttribute('width', Math.round(x1 - x0));
    svg.setAttribute('height', Math.round(y1 - y0));
    members.slice(0, shown).forEach(function (m, i) {
        (m.points_to || []).forEach(function (p) {
            if (p.member >= shown) return;
            const a = pos[i], b = pos[p.member];
            let path, lx, ly;
            if (p.member === i) {
                path = 'M' + (a[0] + W / 2) + ',' + (a[1] - 6) + ' C' + (a[0] + W / 2 + 40) + ',' + (a[1] - 40) +
                       ' ' + (a[0] + 10) + ',' + (a[1] - 60) + ' ' + (a[0] + 10) + ',' + (a[1] - H / 2);
                lx = a[0] + W / 2 + 12; ly = a[1] - 38;
            } else {
                const dx = b[0] - a[0], dy = b[1] - a[1], len = Math.hypot(dx, dy) || 1;
                const ux = dx / len, uy = dy / len;
                const trim = function (p0, s) {
                    const tx = W / 2 / Math.abs(ux || 1e-9), ty = H / 2 / Math.abs(uy || 1e-9);
                    const t = Math.min(tx, ty) + 2;
                    return [p0[0] + s * ux * t, p0[1] + s * uy * t];
                };
                const s0 = trim(a, 1), s1 = trim(b, -1);
                const nx = -uy * 8, ny = ux * 8;      /* offset so that A->B and B->A do not overlap */
                path = 'M' + (s0[0] + nx) + ',' + (s0[1] + ny) + ' L' + (s1[0] + nx) + ',' + (s1[1] + ny);
                lx = (s0[0] + s1[0]) / 2 + nx * 1.6; ly = (s0[1] + s1[1]) / 2 + ny * 1.6;
            }
            svg.appendChild(svgEl('path', { d: path, fill: 'none', stroke: '#8e44ad', 'stroke-width': 1.4,
                                            'marker-end': 'url(#hg-arrow-' + ci + ')' }));
            const t = svgEl('text', { x: lx, y: ly, 'text-anchor': 'middle', fill: '#5b2c6f' });
            t.textContent = '+' + p.offset;
            svg.appendChild(t);
        });
    });
    members.slice(0, shown).forEach(function (m, i) {
        const g = svgEl('g', { class: 'cycle-node' });
        const fn = m.type || (m.stack && m.stack[0] ? frameLabel(m.stack[0]) : '?');
        const title = svgEl('title');
        title.textContent = '#' + i + ' ' + fmtInt(m.size) + ' B, allocated in ' + fn;
        g.appendChild(title);
        g.appendChild(svgEl('rect', { x: pos[i][0] - W / 2, y: pos[i][1] - H / 2, width: W, height: H, rx: 6,
                                      fill: '#f4ecf7', stroke: '#8e44ad' }));
        const t1 = svgEl('text', { x: pos[i][0], y: pos[i][1] - 3, 'text-anchor': 'middle', 'font-weight': 'bold' });
        t1.textContent = '#' + i + '  ' + fmtBytes(m.size);
        const t2 = svgEl('text', { x: pos[i][0], y: pos[i][1] + 11, 'text-anchor': 'middle' });
        t2.textContent = fn.length > 16 ? fn.slice(0, 15) + '\u2026' : fn;
        g.appendChild(t1); g.appendChild(t2);
        svg.appendChild(g);
    });
    return svg;
}

function cycleMembers(cy) {
    const box = el('div', { class: 'members' });
    const head = el('div', null, el('span', { class: 'badge cycle' }, cy.root ? 'cycle' : 'cycle (indirect)'),
                    el('b', null, fmtBytes(cy.bytes)), ' in ' + blocks(cy.blocks));
    box.appendChild(head);
    if ((cy.members || []).length > 24) box.appendChild(el('div', { class: 'hint' }, 'the graph shows the first 24 members'));
    (cy.members || []).slice(0, 64).forEach(function (m, i) {
        const edges = (m.points_to || []).map(function (p) { return '+' + p.offset + ' \u2192 #' + p.member; }).join(', ');
        const d = el('details', { class: 'leak' },
            el('summary', null, el('b', null, '#' + i), ' ' + fmtInt(m.size) + ' B ',
               el('code', null, m.type || (m.stack && m.stack[0] ? frameLabel(m.stack[0]) : '?')),
               edges ? '  points to ' + edges : ''));
        d.appendChild(stackList(m.stack));
        box.appendChild(d);
    });
    return box;
}

function renderCycles() {
    const box = $('cycles'), cycles = state.proc.cycles || [];
    box.textContent = '';
    if (!cycles.length) { box.appendChild(el('p', { class: 'empty' }, 'No unreachable cycles.')); return; }
    cycles.slice(0, 50).forEach(function (cy, ci) {
        box.appendChild(el('div', { class: 'cycle-box' }, cycleGraph(cy, ci), cycleMembers(cy)));
    });
    if (cycles.length > 50) box.appendChild(el('p', { class: 'hint' }, (cycles.length - 50) + ' more cycles not shown'));
}

/* ---- sites table ------------------------------------------------------ */

function renderSites() {
    const tb = document.querySelector('#sites tbody'), col = state.sortCol, q = state.filter.toLowerCase();
    const rows = [];
    state.view.sites.forEach(function (s) {
        if (s.fn === '(other)' && !q) return;
        if (q && siteText(s).indexOf(q) < 0) return;
        const r = { s: s, n: siteValue(s, 'n'), b: siteValue(s, 'b'), t: siteValue(s, 't'),
                    p: s.p, l: siteValue(s, 'l') };
        /* Within a range, a site is listed when it has blocks live in it. */
        if (r.n > 0 || r.l > 0 || (!state.range && r.p > 0)) rows.push(r);
    });
    const key = function (r) { return col === 'fn' ? r.s.fn : col === 'loc' ? r.s.loc : r[col]; };
    rows.sort(function (a, b) {
        const x = key(a), y = key(b);
        if (typeof x === 'string') return x < y ? -1 : x > y ? 1 : 0;
        return y - x || a.s.fn.localeCompare(b.s.fn);
    });
    tb.textContent = '';
    rows.slice(0, MAX_ROWS).forEach(function (r) {
        const tr = el('tr', null,
            el('td', { class: 'fn' }, r.s.fn, r.s.caller ? el('span', { class: 'caller' }, ' \u2190 ' + r.s.caller) : null),
            el('td', { class: 'loc' }, r.s.loc),
            el('td', { class: 'num', 'data-col': 'n' }, fmtInt(r.n)),
            el('td', { class: 'num', 'data-col': 'b', title: fmtInt(r.b) + ' B' }, fmtBytes(r.b)),
            el('td', { class: 'num', 'data-col': 't' }, fmtInt(r.t)),
            el('td', { class: 'num', 'data-col': 'p', title: fmtInt(r.p) + ' B' }, fmtBytes(r.p)),
            el('td', { class: 'num', 'data-col': 'l', title: fmtInt(r.l) + ' B' }, fmtBytes(r.l)));
        tr.title = r.s.k.map(function (i) {
            const f = state.view.frames[i];
            return f[0] + (f[1] ? '  ' + f[1] + (f[2] ? ':' + f[2] : '') : '');
        }).join('\n');
        tb.appendChild(tr);
    });
    const merged = state.view.merged_sites && !q
        ? ' (and ' + fmtInt(state.view.merged_sites) + ' small sites merged into "(other)" entries, listed when filtering)' : '';
    $('sites-count').textContent = (rows.length > MAX_ROWS
        ? 'showing ' + MAX_ROWS + ' of ' + fmtInt(rows.length) + ' sites' : fmtInt(rows.length) + ' sites') + merged;
    document.querySelectorAll('#sites th').forEach(function (th) {
        th.classList.toggle('sorted', th.dataset.col === col);
    });
    document.querySelectorAll('.sort-preset').forEach(function (b) {
        b.classList.toggle('active', b.dataset.sort === col);
    });
}

function initSites() {
    document.querySelectorAll('#sites th').forEach(function (th) {
        th.addEventListener('click', function () { state.sortCol = th.dataset.col; renderSites(); });
    });
    document.querySelectorAll('.sort-preset').forEach(function (b) {
        b.addEventListener('click', function () { state.sortCol = b.dataset.sort; renderSites(); });
    });
    $('filter').addEventListener('input', function (e) { state.filter = e.target.value; renderSites(); });
}

/* The view of process i: views are written in the report's process order;
 * the pid check guards against a report written with another selection. */
function viewOf(i) {
    const p = REPORT.processes[i], v = DATA.views[i];
    if (v && v.pid === p.pid) return v;
    return DATA.views.find(function (x) { return x.pid === p.pid; }) ||
        { pid: p.pid, frames: [], sites: [], series: { t0: 0, dt: 1, heap: [], rss: [] }, life: null };
}

/* ---- Python ----------------------------------------------------------- */

function sum(a) { return a.reduce(function (x, y) { return x + y; }, 0); }

function gcSummary(gc) {
    const c = gc.collections;
    return fmtInt(sum(c)) + ' garbage collections (generation 0: ' + fmtInt(c[0]) + ', 1: ' +
        fmtInt(c[1]) + ', 2: ' + fmtInt(c[2]) + '), ' + fmtInt(sum(gc.collected)) +
        ' objects collected, ' + fmtInt(sum(gc.uncollectable)) + ' uncollectable; the ' +
        fmtInt(gc.events.length) + ' recorded took ' + fmtDuration(sum(gc.pause_us)) +
        ' in all, the longest ' + fmtDuration(Math.max.apply(null, gc.longest_us)) +
        '; ' + fmtInt(gc.freed_objects) + ' objects (' + fmtInt(gc.freed_blocks) +
        ' blocks) only the collector freed';
}

function signed(n, f) { return (n > 0 ? '+' : n < 0 ? '\u2212' : '') + f(Math.abs(n)); }

/* Live objects by type at each snapshot, with the change since the one
 * before (the first: since nothing). */
function renderPython() {
    const p = state.proc, box = $('pytypes');
    const snaps = (p.snapshots || []).filter(function (s) { return s.python; });
    $('python-section').hidden = !p.gc && !snaps.length;
    $('gc-line').textContent = p.gc ? gcSummary(p.gc) : '';
    box.textContent = '';
    snaps.forEach(function (s) {
        box.appendChild(el('h3', null, 'Snapshot ' + s.id + (s.reason === 'exit' ? ' (exit)' : '') +
                           ': ' + fmtInt(s.python.objects) + ' live objects by type'));
        const t = el('table', { class: 'pytypes' },
            el('tr', null, el('th', null, 'type'), el('th', null, 'objects'), el('th', null, 'bytes'),
               el('th', null, 'change'), el('th', null, 'bytes change')));
        s.python.types.slice(0, MAX_TYPES).forEach(function (x) {
            t.appendChild(el('tr', null, el('td', null, x.type), el('td', { class: 'num' }, fmtInt(x.count)),
                el('td', { class: 'num' }, fmtBytes(x.bytes)),
                el('td', { class: 'num' }, signed(x.delta_count, fmtInt)),
                el('td', { class: 'num' }, signed(x.delta_bytes, fmtBytes))));
        });
        box.appendChild(t);
    });
}

/* ---- processes -------------------------------------------------------- */

function selectProcess(i) {
    state.pi = i;
    state.proc = REPORT.processes[i];
    state.view = prepareView(viewOf(i));
    state.range = null;
    state.zoom = null;
    const s = state.proc.summary || {};
    const lost = KINDS.slice(0, 3).reduce(function (a, k) { return a + ((s[k] || {}).bytes || 0); }, 0);
    const notFreed = state.view.sites.some(function (x) { return x.l > 0; });
    state.metric = lost > 0 || notFreed ? 'l' : 'b';
    $('metric').value = state.metric;
    renderHeader(); setRange(null); renderPython(); renderLeaks(); renderCycles();
}

/* The process tree: each image under the one that forked or spawned it,
 * an exec'd image under the image it replaced; in the order they appeared.
 * Returns [[index, depth], ...]. */
function processTree(procs) {
    const kids = procs.map(function () { return []; }), roots = [], byPid = new Map();
    procs.forEach(function (p, i) {
        const same = byPid.get(p.pid);
        const parent = p.origin === 'exec' && same !== undefined ? same : byPid.get(p.ppid);
        if (parent !== undefined && parent !== i) kids[parent].push(i); else roots.push(i);
        byPid.set(p.pid, i);
    });
    const out = [], todo = roots.slice().reverse().map(function (i) { return [i, 0]; });
    while (todo.length) {
        const it = todo.pop();
        out.push(it);
        for (let k = kids[it[0]].length - 1; k >= 0; k--) todo.push([kids[it[0]][k], it[1] + 1]);
    }
    return out;
}

/* The program the run was for: the last image of the launched process's
 * exec chain (a shim's env and bash before it are its wrappers). */
function mainProcess(procs) {
    const root = procs.findIndex(function (p) { return p.origin === 'root'; });
    if (root < 0) return 0;
    let main = root;
    procs.forEach(function (p, i) {
        if (p.pid === procs[root].pid && p.origin === 'exec' && p.stream > procs[main].stream) main = i;
    });
    return main;
}

function initProcesses() {
    const procs = REPORT.processes || [];
    if (procs.length < 2) return;
    const sel = $('process');
    processTree(procs).forEach(function (it) {
        const p = procs[it[0]], s = p.summary || {};
        const lost = KINDS.slice(0, 3).reduce(function (a, k) { return a + ((s[k] || {}).bytes || 0); }, 0);
        const label = '\u00a0\u00a0'.repeat(Math.min(it[1], 20)) + (p.origin === 'exec' ? '\u21b3 ' : '') +
            p.pid + '  ' + (p.command || [p.exe || '?']).join(' ').slice(0, 80) +
            '  (' + fmtInt(s.allocations || 0) + ' allocations' + (lost ? ', ' + fmtBytes(lost) + ' lost' : '') + ')';
        sel.appendChild(el('option', { value: String(it[0]) }, label));
    });
    sel.addEventListener('change', function () { selectProcess(Number(sel.value)); });
    $('process-picker').hidden = false;
}

/* Test hook: the browser test reads the flame graph's drawn frames. */
window.heapgraph = {
    flameFrames: function () {
        return state.rects.map(function (r) {
            return { name: r.node.name, depth: r.node.depth, x: r.x, y: r.y, w: r.w, value: r.node.v };
        });
    },
    flameWidth: function () { return $('flame').clientWidth; },
    /* x offset in the timeline canvas of a fraction (0..1) of the run */
    timelineX: function (f) { const g = timeline.geom; return g.L + f * (g.w - g.L - g.R); },
    zoomed: function () { return state.zoom ? state.zoom.name : null; },
    /* the garbage collections marked on the timeline: x offset, generation */
    gcMarks: function () { return timeline.gcMarks || []; }
};

function main() {
    if (!REPORT.processes || !REPORT.processes.length) {
        $('program').textContent = 'empty capture: no process was recorded';
        return;
    }
    initTimeline(); initFlame(); initSites(); initProcesses();
    const main = mainProcess(REPORT.processes);
    if ($('process').options.length) $('process').value = String(main);
    selectProcess(main);
    let resizeTimer = 0;
    window.addEventListener('resize', function () {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(function () { renderTimeline(); renderFlame(); }, 100);
    });
}

main();
})();
