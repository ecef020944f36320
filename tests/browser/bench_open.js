#!/usr/bin/env node
/* bench_open.js - how long an HTML report takes to open in headless chromium:
 * from the start of navigation to the flame graph drawn (performance.now()
 * in the page once window.heapgraph has frames), over 5 fresh pages; prints
 * each time and the median. Used for docs/benchmarks.md ("HTML report").
 * usage: node tests/browser/bench_open.js REPORT.html */
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
    const file = path.resolve(process.argv[2]);
    const browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync']
    });
    const times = [];
    for (let i = 0; i < 5; i++) {
        const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
        await page.goto('file://' + file);
        await page.waitForFunction(function () {
            return window.heapgraph && window.heapgraph.flameFrames().length > 0;
        }, null, { timeout: 60000 });
        times.push(await page.evaluate(function () { return performance.now(); }));
        await page.close();
    }
    await browser.close();
    times.sort(function (a, b) { return a - b; });
    console.log('open ms: ' + times.map(function (t) { return t.toFixed(0); }).join(' ') +
                '; median ' + times[2].toFixed(0));
}

main().catch(function (e) { console.error(e); process.exit(1); });
