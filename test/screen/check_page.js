// Opens the screen page in Debian's headless Chromium (driven by
// puppeteer-core over the DevTools protocol), records every request the page
// makes, waits until each chart has finished rendering, and prints as JSON
// what each chart drew in its SVG.  test/screen.sh judges the numbers.
//
//   node test/screen/check_page.js PAGE.html [SCREENSHOT.png]
//
// CHROMIUM names the browser (default /usr/bin/chromium).
'use strict';
const path = require('path');
const puppeteer = require('puppeteer-core');

const page_file = path.resolve(process.argv[2] || 'demo/screen.html');
const shot = process.argv[3];

(async () => {
	const browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		pipe: true,
		// root needs --no-sandbox; the rest keeps the browser itself quiet
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
		       '--disable-component-update', '--disable-default-apps', '--disable-sync', '--hide-scrollbars'],
		defaultViewport: { width: 1600, height: 1000 }
	});
	const result = { requests: [], errors: [] };
	try {
		const page = await browser.newPage();
		// Network.requestWillBeSent for the page, its frames and workers
		page.on('request', r => result.requests.push(r.url()));
		page.on('pageerror', e => result.errors.push('pageerror: ' + e.message));
		page.on('console', m => { if (m.type() === 'error') result.errors.push('console: ' + m.text()); });
		await page.goto('file://' + page_file, { waitUntil: 'load' });
		try {
			await page.waitForFunction(() => {
				const s = window.sanseScreen;
				return s && s.ready && (s.error || Object.values(s.charts).every(c => c.finished));
			}, { timeout: 30000 });
		} catch (e) {
			result.errors.push('render: ' + e.message);
		}
		Object.assign(result, await page.evaluate(measure));
		if (shot)
			await page.screenshot({ path: shot });
	} finally {
		await browser.close();
	}
	console.log(JSON.stringify(result));
})().catch(e => {
	console.log(JSON.stringify({ fatal: String(e && e.stack || e) }));
	process.exit(1);
});

// Runs in the page: counts the marks in each chart's SVG, by the colours the
// page says it draws them with (window.sanseScreen.palette).
function measure() {
	const s = window.sanseScreen || {};
	const pal = s.palette || {};
	const svg = id => document.querySelector('#c-' + id + ' svg');
	const paths = id => svg(id) ? [...svg(id).querySelectorAll('path')] : [];
	const texts = id => svg(id) ? [...svg(id).querySelectorAll('text')].map(t => t.textContent) : [];
	const fill = e => (e.getAttribute('fill') || '').toLowerCase();
	// a bar or tile is a closed four-sided path ("M x y l w 0 l 0 h l -w 0 Z");
	// sizes and positions as drawn on the screen (transforms applied)
	const isRect = e => /^M[^A-Za-z]*l[^A-Za-z]*l[^A-Za-z]*l[^A-Za-z]*Z$/.test((e.getAttribute('d') || '').trim());
	const box = e => e.getBoundingClientRect();
	const height = e => box(e).height;
	const width = e => box(e).width;
	const isArc = e => /A/.test(e.getAttribute('d') || '');
	const inPal = (e, list) => (list || []).map(c => c.toLowerCase()).includes(fill(e));

	const tiles = paths('treemap').filter(e => isRect(e) && inPal(e, pal.coverage) && width(e) > 0 && height(e) > 0);
	const symbols = paths('trend').filter(e => isArc(e) && inPal(e, pal.levels));
	const per_level = (pal.levels || []).map(c => symbols.filter(e => fill(e) === c.toLowerCase()).length);
	const xs = new Set(symbols.map(e => { const b = box(e); return Math.round(b.x + b.width / 2); }));
	// the trend's days as the chart holds them: its x axis (one category per
	// day of the history) and the days on which some level has a value (a day
	// whose four levels are all hidden has no symbol, only a gap)
	let trend_axis = null;
	try {
		const o = echarts.getInstanceByDom(document.getElementById('c-trend')).getOption();
		const days = o.xAxis[0].data;
		trend_axis = { axis_days: days.length,
		               days_with_value: days.filter((d, i) => o.series.some(s => s.data[i] != null)).length };
	} catch (e) {
		trend_axis = { axis_error: e.message };
	}
	const checkin = paths('checkin').filter(e => isRect(e) && fill(e) === (pal.checkin || '').toLowerCase() && height(e) > 0);
	const loop_bars = paths('loop').filter(e => isRect(e) && inPal(e, pal.loop) && height(e) > 0);
	const target = paths('loop').filter(e => (e.getAttribute('stroke') || '').toLowerCase() === (pal.target || '').toLowerCase());
	// the median arrival line's circles (its legend mark is one more)
	const median_marks = paths('loop').filter(e => isArc(e) && fill(e) === (pal.median || '').toLowerCase()).length;
	const worst = paths('worst').filter(e => isRect(e) && inPal(e, pal.coverage) && width(e) > 0);
	const device_bars = paths('devices').filter(e => isRect(e) && inPal(e, pal.devices) && height(e) > 0);
	// what each panel says of itself: its title and its note, as shown
	const panels = Object.fromEntries([...document.querySelectorAll('main section')].map(sec =>
		[sec.id.replace(/^p-/, ''), { title: (sec.querySelector('h2') || {}).textContent || '',
		                               note: [...sec.querySelectorAll('.note')].map(n => n.textContent).join(' ') }]));
	const kpis = [...document.querySelectorAll('.kpi')].map(k => ({
		label: k.querySelector('.label').textContent, value: k.querySelector('.value').textContent,
		sub: k.querySelector('.sub').textContent }));
	// the histogram's bars as the chart holds them (its labels and values),
	// and the bars drawn in the colour of hidden cells
	let checkin_data = null;
	try {
		const o = echarts.getInstanceByDom(document.getElementById('c-checkin')).getOption();
		checkin_data = { labels: o.xAxis[0].data,
		                 values: o.series[0].data.map(v => v != null && typeof v === 'object' ? v.value : v) };
	} catch (e) {
		checkin_data = { error: e.message };
	}
	const hidden_fill = pal.hidden || (pal.coverage || []).slice(-2)[0];
	const checkin_hidden = paths('checkin').filter(e => isRect(e) && hidden_fill && fill(e) === hidden_fill.toLowerCase() && height(e) > 0);
	// the treemap's tooltip (HTML) given an area whose name is markup
	let tooltip_escapes = null;
	try {
		const f = echarts.getInstanceByDom(document.getElementById('c-treemap')).getOption().tooltip[0].formatter;
		const html = f({ data: { path: 'q.x', name: '<img src=x onerror=alert(1)>', kind: 'town', residents: 5, rate: 0.5, overdue: 0, value: 1 } });
		tooltip_escapes = !/<img/i.test(html) && html.includes('&lt;img');
	} catch (e) {
		tooltip_escapes = 'error: ' + e.message;
	}
	return {
		ready: !!s.ready, page_error: s.error || null, tooltip_escapes,
		finished: Object.fromEntries(Object.entries(s.charts || {}).map(([k, v]) => [k, v.finished])),
		svg: ['treemap', 'trend', 'checkin', 'loop', 'worst', 'devices'].filter(id => svg(id)),
		treemap: { tiles: tiles.length, labels: texts('treemap') },
		trend: { symbols: symbols.length, per_level, days: xs.size, ...trend_axis },
		checkin: { bars: checkin.length, hidden_bars: checkin_hidden.length, labels: texts('checkin'), ...checkin_data },
		loop: { bars: loop_bars.length, target_lines: target.length, median_marks, labels: texts('loop') },
		worst: { bars: worst.length, labels: texts('worst') },
		devices: { bars: device_bars.length, labels: texts('devices') },
		panels, kpis,
		title: document.title
	};
}
