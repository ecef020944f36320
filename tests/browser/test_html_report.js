#!/usr/bin/env node
/* test_html_report.js - the HTML report in a real browser (Debian's chromium,
 * headless, driven by playwright-core). Records tests/e2e/html_leak_cycle.c
 * (a 100-byte leak, a cycle of three nodes allocated in a file named
 * "</script><img src=x onerror=alert(1)>.c", a block held by the global
 * g_keep, temporaries in two phases),
 * writes its JSON and HTML reports, opens the HTML from a file:// URL and
 * checks: the header figures equal the JSON report's; clicking a flame-graph
 * frame zooms it to the full width; selecting a time range changes the sites
 * table; the cycle graph has three nodes; no console error, no request but
 * the file itself, no dialog, and the hostile file name shows as text;
 * a Python process's page shows the garbage collector's work and the live
 * objects by type (checkPython).
 * Leaves a screenshot in tests/browser/artifacts/.
 *
 * Run by ctest (env HEAPGRAPH, HG_SOURCE_DIR, HG_BUILD_DIR). To check a
 * page written some other way, set HG_BROWSER_HTML and HG_BROWSER_JSON to
 * the report's two files: nothing is recorded then. Installs
 * playwright-core from package-lock.json with `npm ci` when missing.
 * Exit 0 pass, 1 fail, 77 skip (no chromium).
 */
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const HERE = __dirname;
const CHROMIUM = '/usr/bin/chromium';
const XSS = '</script><img src=x onerror=alert(1)>.c';

let failures = 0;
function check(ok, what) {
    console.log((ok ? 'ok   ' : 'FAIL ') + what);
    if (!ok) failures++;
}

function loadPlaywright() {
    try {
        return require('playwright-core');
    } catch (e) {
        execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: HERE, stdio: 'inherit' });
        return require('playwright-core');
    }
}

/* Builds, records and reports tests/e2e/<name>.c, started through `sh -c
 * 'exec ...'` when wrapped; returns the paths. */
function record(work, name, wrapped) {
    const hg = process.env.HEAPGRAPH;
    const src = path.join(process.env.HG_SOURCE_DIR || path.join(HERE, '../..'), 'tests/e2e/' + name + '.c');
    const exe = path.join(work, name);
    const cap = path.join(work, name + '.hgcap');
    const json = path.join(work, name + '.json');
    const html = path.join(work, name + '.html');
    execFileSync('cc', ['-O2', '-g', src, '-o', exe]);
    const argv = wrapped ? ['/bin/sh', '-c', 'exec "$0"', exe] : [exe];
    execFileSync(hg, ['run', '-q', '-o', cap, '--'].concat(argv), { stdio: 'inherit' });
    execFileSync(hg, ['report', '--format', 'json', '-o', json, cap], { stdio: 'inherit' });
    execFileSync(hg, ['report', '--format', 'html', '-o', html, cap], { stdio: 'inherit' });
    return { json: json, html: html };
}

async function checkHeader(page, proc) {
    const facts = await page.$$eval('#facts dd', function (dds) {
        const o = {};
        dds.forEach(function (d) { o[d.dataset.k] = d.dataset.value; });
        return o;
    });
    const s = proc.summary;
    const want = {
        allocations: s.allocations, frees: s.frees, allocated_bytes: s.allocated_bytes,
        peak_bytes: s.peak_bytes, live_bytes: s.live_bytes, duration: proc.duration_us,
        definite: s.definite.bytes, cycle: s.cycle.bytes, indirect: s.indirect.bytes,
        possible: s.possible.bytes, reachable: s.reachable.bytes, cycles: proc.cycles.length,
        exit: proc.exit.status !== undefined ? proc.exit.status : 'signal ' + proc.exit.signal
    };
    for (const k in want)
        check(String(facts[k]) === String(want[k]), 'header ' + k + ' = ' + facts[k] + ' (JSON: ' + want[k] + ')');
    check(s.definite.bytes === 100 && s.cycle.bytes === 96, 'the JSON report has the 100-byte leak and the 96-byte cycle');
}

async function checkFlameZoom(page) {
    const before = await page.evaluate(function () { return window.heapgraph.flameFrames(); });
    const width = await page.evaluate(function () { return window.heapgraph.flameWidth(); });
    const target = before.filter(function (f) { return f.depth >= 2 && f.w < width - 1 && f.w > 8; })
        .sort(function (a, b) { return b.w - a.w; })[0];
    check(!!target, 'the flame graph has a frame narrower than the canvas to click');
    if (!target) return;
    const box = await page.locator('#flame').boundingBox();
    await page.mouse.click(box.x + target.x + target.w / 2, box.y + target.y + 8);
    const after = await page.evaluate(function () { return window.heapgraph.flameFrames(); });
    const zoomed = after.find(function (f) { return f.name === target.name && f.depth === target.depth; });
    check(zoomed && zoomed.x === 0 && Math.abs(zoomed.w - width) < 0.01,
          'clicking "' + target.name + '" (' + target.w.toFixed(1) + ' px) zooms it to the full width ' + width);
    check(await page.evaluate(function () { return window.heapgraph.zoomed(); }) === target.name,
          'the page reports the zoomed frame');
    await page.click('#flame-reset');
}

async function tableText(page) {
    return page.$$eval('#sites tbody tr', function (rows) {
        return rows.map(function (r) { return r.textContent; }).join('\n');
    });
}

/* Selects the first half of the run: phase one (2,000 temporaries) lies in
 * it and the leaks and phase two do not, because 400 ms pass between them
 * (tests/e2e/html_leak_cycle.c), longer than the rest of the run and than
 * the runtime's start-up on a loaded machine. */
async function checkTimeRange(page) {
    const before = await tableText(page);
    const box = await page.locator('#timeline').boundingBox();
    const y = box.y + box.height / 2;
    const xs = await page.evaluate(function () {
        return [window.heapgraph.timelineX(0), window.heapgraph.timelineX(0.5)];
    });
    const x0 = box.x + xs[0], x1 = box.x + xs[1];
    await page.mouse.move(x0, y);
    await page.mouse.down();
    await page.mouse.move((x0 + x1) / 2, y);
    await page.mouse.move(x1, y);
    await page.mouse.up();
    const after = await tableText(page);
    const range = await page.textContent('#range-text');
    check(/allocations live between/.test(range), 'the range is shown: ' + range);
    check(before !== after && after.length > 0, 'selecting a time range changes the sites table');
    const rows = await page.$$eval('#sites tbody tr', function (trs) {
        return trs.map(function (tr) {
            return { fn: tr.querySelector('td.fn').textContent, n: tr.querySelector('td[data-col="n"]').textContent };
        });
    });
    const one = rows.find(function (r) { return r.fn.includes('phase_one'); });
    check(one && one.n === '2,000', 'phase one in the range: ' + JSON.stringify(one));
    check(!rows.some(function (r) { return /phase_two|leak_buffer|make_node|keep_block/.test(r.fn); }),
          'nothing made after the range: ' + JSON.stringify(rows.map(function (r) { return r.fn; })));
    await page.click('#range-clear');
    check(await tableText(page) === before, 'clearing the range restores the table');
}

/* A capture of two processes (tests/e2e/rec_fork.c): the picker lists both
 * and switching to the child shows the child's figures and sites. */
async function checkProcessPicker(context, work, watch) {
    const out = record(work, 'rec_fork');
    const report = JSON.parse(fs.readFileSync(out.json, 'utf8'));
    const child = report.processes[1];
    const page = await context.newPage();
    watch(page);
    await page.goto('file://' + out.html);
    await page.waitForFunction(function () { return !!window.heapgraph; });
    check(await page.isVisible('#process'), 'the process picker is shown for 2 processes');
    check(await page.$$eval('#process option', function (o) { return o.length; }) === 2, 'it lists both');
    await page.selectOption('#process', '1');
    const pid = await page.textContent('#program');
    const allocs = await page.getAttribute('#facts dd[data-k="allocations"]', 'data-value');
    check(pid.includes('pid ' + child.pid) && Number(allocs) === child.summary.allocations,
          'picking the child shows its pid ' + child.pid + ' and its ' + child.summary.allocations + ' allocations');
    check((await tableText(page)).includes('in_child'), "the sites table shows the child's site");
    await page.close();
}

/* The same program started by a shell that execs it: the page opens on the
 * program, not on the shell it replaced, and the picker shows the tree
 * (the program under the shell, its fork child under it). */
async function checkOpensOnMain(context, work, watch) {
    const out = record(work, 'rec_fork', true);
    const report = JSON.parse(fs.readFileSync(out.json, 'utf8'));
    const main = report.processes.findIndex(function (p) { return p.origin === 'exec'; });
    const page = await context.newPage();
    watch(page);
    await page.goto('file://' + out.html);
    await page.waitForFunction(function () { return !!window.heapgraph; });
    check(main > 0 && (await page.textContent('#program')).includes('pid ' + report.processes[main].pid) &&
          await page.inputValue('#process') === String(main),
          'the page opens on the exec\'d program (process ' + main + '), not on the shell');
    const labels = await page.$$eval('#process option', function (o) {
        return o.map(function (x) { return x.textContent; });
    });
    const depth = function (t) { return t.length - t.replace(/^\u00a0+/, '').length; };
    check(labels.length === 3 && depth(labels[0]) === 0 && depth(labels[1]) === 2 &&
          labels[1].includes('\u21b3') && depth(labels[2]) === 4,
          'the picker shows the tree: shell, the program it exec\'d, the fork child ' + JSON.stringify(labels));
    await page.close();
}

/* A Python process (Debian's python3.11) that collects twice with the
 * collector disabled: the Python section shows the collector's figures and
 * the live objects by type as the JSON report has them, and the timeline
 * marks each recorded collection. */
const GC_SCRIPT = [
    'import gc',
    'gc.disable()',
    'class Node:',
    '    pass',
    'def ring(n):',
    '    a = Node(); a.me = a',
    'for i in range(300):',
    '    ring(i)',
    'gc.collect()',
    'KEEP = [Node() for i in range(1234)]',
    'gc.collect(0)'
].join('\n') + '\n';

async function checkPython(context, work, watch) {
    const py = '/usr/bin/python3.11';
    if (!fs.existsSync(py)) {
        console.log('skip the Python page: no ' + py);
        return;
    }
    const hg = process.env.HEAPGRAPH;
    const script = path.join(work, 'gcpage.py'), cap = path.join(work, 'gcpage.hgcap');
    const json = path.join(work, 'gcpage.json'), html = path.join(work, 'gcpage.html');
    fs.writeFileSync(script, GC_SCRIPT);
    execFileSync(hg, ['run', '-q', '-o', cap, '--', py, script], { stdio: 'inherit' });
    execFileSync(hg, ['report', '--format', 'json', '-o', json, cap], { stdio: 'inherit' });
    execFileSync(hg, ['report', '--format', 'html', '-o', html, cap], { stdio: 'inherit' });
    const proc = JSON.parse(fs.readFileSync(json, 'utf8')).processes[0];
    const page = await context.newPage();
    watch(page);
    await page.goto('file://' + html);
    await page.waitForFunction(function () { return !!window.heapgraph; });
    check(await page.isVisible('#python-section'), 'the Python section is shown');
    const line = await page.textContent('#gc-line');
    const n = proc.gc.collections.reduce(function (a, b) { return a + b; }, 0);
    check(line.startsWith(n.toLocaleString('en-US') + ' garbage collections (generation 0: ' +
                          proc.gc.collections[0]) && line.includes('the ' + proc.gc.events.length + ' recorded'),
          'the collector line has the JSON figures: ' + line);
    const last = proc.gc.events.slice(-2).map(function (e) { return [e.generation, e.collected]; });
    check(JSON.stringify(last.map(function (e) { return e[0]; })) === '[2,0]' && last[0][1] >= 300,
          'the last two collections are the script\'s: ' + JSON.stringify(last));
    const marks = await page.evaluate(function () { return window.heapgraph.gcMarks(); });
    check(marks.length === proc.gc.events.length && marks.length > 0 &&
          marks[marks.length - 1].generation === 0, 'one timeline mark per recorded collection: ' + marks.length);
    const rows = await page.$$eval('table.pytypes tr', function (trs) {
        return trs.slice(1).map(function (tr) {
            return Array.prototype.map.call(tr.children, function (td) { return td.textContent; });
        });
    });
    const node = rows.find(function (r) { return r[0] === 'Node'; });
    check(node && node[1] === '1,234' && node[3] === '+1,234', 'live Node objects with their growth: ' +
          JSON.stringify(node));
    await page.close();
}

async function main() {
    if (!fs.existsSync(CHROMIUM)) {
        console.log('skip: ' + CHROMIUM + ' is not installed');
        process.exit(77);
    }
    const { chromium } = loadPlaywright();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hg-browser-'));
    const artifacts = path.join(HERE, 'artifacts');
    fs.mkdirSync(artifacts, { recursive: true });
    const out = process.env.HG_BROWSER_HTML
        ? { html: path.resolve(process.env.HG_BROWSER_HTML), json: path.resolve(process.env.HG_BROWSER_JSON) }
        : record(work, 'html_leak_cycle');
    const report = JSON.parse(fs.readFileSync(out.json, 'utf8'));
    const proc = report.processes[0];
    const url = 'file://' + out.html;

    /* A fresh profile directory: launchPersistentContext passes it as --user-data-dir. */
    const context = await chromium.launchPersistentContext(path.join(work, 'profile'), {
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1300, height: 900 }
    });
    /* Only the report pages themselves may load; everything else is refused. */
    const isReport = function (u) { return u === url || (u.startsWith('file://' + work + '/') && u.endsWith('.html')); };
    const requests = [], routed = [], errors = [], dialogs = [];
    await context.route('**/*', function (route) {
        routed.push(route.request().url());
        const u = route.request().url();
        return isReport(u) ? route.continue() : route.abort();
    });
    const page = await context.newPage();
    page.on('request', function (r) { requests.push(r.url()); });
    const watch = function (pg) {
        pg.on('console', function (m) { if (m.type() === 'error') errors.push(m.text()); });
        pg.on('pageerror', function (e) { errors.push(e.message); });
        pg.on('dialog', function (d) { dialogs.push(d.message()); d.dismiss(); });
    };
    watch(page);
    try {
        const t0 = Date.now();
        await page.goto(url, { waitUntil: 'load' });
        await page.waitForFunction(function () { return window.heapgraph && window.heapgraph.flameFrames().length > 0; });
        console.log('page ready in ' + (Date.now() - t0) + ' ms');
        await checkHeader(page, proc);
        const nodes = await page.$$eval('#cycles svg.cycle-graph', function (svgs) {
            return svgs.map(function (s) { return s.querySelectorAll('g.cycle-node').length; });
        });
        check(nodes.length === 1 && nodes[0] === 3, 'one cycle graph with 3 nodes (got ' + JSON.stringify(nodes) + ')');
        const held = await page.textContent('details.leak[data-kind="reachable"] .retained');
        check(/held by global g_keep/.test(held || ''), 'the reachable block shows its retention path: ' + held);
        await page.locator('details.leak').first().click();
        await page.screenshot({ path: path.join(artifacts, 'report.png'), fullPage: true });
        await checkFlameZoom(page);
        await checkTimeRange(page);
        const text = await page.evaluate(function () { return document.body.textContent; });
        check(text.includes(XSS), 'the hostile file name is shown as text');
        check(await page.$$eval('img', function (x) { return x.length; }) === 0, 'no <img> element was injected');
        await page.waitForTimeout(200);
        if (!process.env.HG_BROWSER_HTML) {
            await checkProcessPicker(context, work, watch);
            await checkOpensOnMain(context, work, watch);
            await checkPython(context, work, watch);
        }
    } finally {
        await context.close();
    }
    check(dialogs.length === 0, 'no dialog opened ' + JSON.stringify(dialogs));
    check(errors.length === 0, 'no console error ' + JSON.stringify(errors));
    check(requests.length === 1 && requests[0] === url && routed.every(isReport),
          'no request but the file itself ' + JSON.stringify(requests) + ' routed ' + JSON.stringify(routed));
    fs.rmSync(work, { recursive: true, force: true });
    console.log(failures ? failures + ' failed' : 'all passed');
    process.exit(failures ? 1 : 0);
}

main().catch(function (e) {
    console.log('FAIL ' + (e && e.stack || e));
    process.exit(1);
});
