// Monitor: one performance's functions and sales over time, from the control plane's range
// queries (GET /api/v1/performances/{ns}/metrics), charted with uPlot and refreshed live. A
// table of the latest values says the same in text.
import uPlot from 'uplot';
import css from 'uplot/dist/uPlot.min.css?inline';
import { type Context, call, h, notice, reason } from '@marquee/api';

interface Point {
  t: number;
  requests_per_second: number;
  errors_per_second: number;
  p50_ms: number | null;
  p99_ms: number | null;
  memory_peak_bytes: number;
  in_flight: number;
}

export interface History {
  functions: Record<string, Point[]>;
  sales: { t: number; sections: { name: string; sold: number; held: number; free: number }[]; gross: number; refunded: number }[];
}

const REFRESH_MS = 3000;
const RANGES = [
  { label: 'Last minute', range: '1m', step: '1s', seconds: 60 },
  { label: 'Last 15 minutes', range: '15m', step: '15s', seconds: 900 },
  { label: 'Last hour', range: '1h', step: '1m', seconds: 3600 },
];
const COLORS = ['#6b21a8', '#0e7490', '#b45309', '#be123c', '#15803d', '#4338ca'];

const clock = (seconds: number) => new Date(seconds * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/// One chart: x is time in seconds over the chosen range (not stretched around the few samples
/// a new performance has), one series per name. `latest` tells a screen reader where the
/// latest values are in text. The desk draws its revenue line with it too.
export function chart(title: string, unit: string, latest = 'the table below has the latest values') {
  if (!document.getElementById('uplot-css')) document.head.append(h('style', { id: 'uplot-css' }, css));
  const box = h('section', { class: 'card chart' }, h('h2', {}, title));
  const area = h('div', { role: 'img', 'aria-label': `${title} over time; ${latest}` });
  box.append(area);
  let plot: uPlot | null = null;
  let names: string[] = [];
  let span: [number, number] = [0, 1];
  const draw = (xs: number[], series: Map<string, (number | null)[]>, window: [number, number]) => {
    span = window;
    area.setAttribute('aria-label', `${title}, ${clock(window[0])} to ${clock(window[1])}; ${latest}`);
    const next = [...series.keys()];
    const data = [xs, ...next.map((n) => series.get(n)!)] as uPlot.AlignedData;
    if (!plot || next.join() !== names.join()) {
      plot?.destroy();
      names = next;
      plot = new uPlot(
        {
          width: Math.max(area.clientWidth, 280),
          height: 180,
          series: [{}, ...names.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true }))],
          scales: { x: { time: true, range: () => span } },
          axes: [{}, { label: unit, size: 56 }],
          legend: { live: false },
        },
        data,
        area,
      );
    } else {
      plot.setData(data);
    }
  };
  const resize = () => plot?.setSize({ width: Math.max(area.clientWidth, 280), height: 180 });
  return { box, draw, resize, destroy: () => plot?.destroy() };
}

export function mount(root: HTMLElement, ctx: Context) {
  const message = h('p', { class: 'notice' });
  const picker = h('select', { name: 'performance' });
  const range = h('select', { name: 'range' }, ...RANGES.map((r, i) => h('option', { value: String(i) }, r.label)));
  const latest = h('tbody');
  const charts = {
    rate: chart('Requests per second', 'req/s'),
    latency: chart('Latency p50 / p99', 'ms'),
    errors: chart('Errors per second', 'err/s'),
    memory: chart('Memory high-water per instance', 'MiB'),
    sales: chart('Sold per section', 'tickets'),
  };
  root.append(
    h('h1', {}, 'Monitor'),
    h('div', { class: 'grid' }, h('label', {}, 'Performance ', picker), h('label', {}, 'Range ', range)),
    message,
    h('section', { class: 'card' }, h('h2', {}, 'Now'), h('div', { class: 'scroll' },
      h('table', { class: 'latest' }, h('thead', {}, h('tr', {}, ...['Function', 'Requests/s', 'p50 ms', 'p99 ms', 'Errors/s', 'Memory MiB', 'In flight'].map((c) => h('th', {}, c)))), latest))),
    h('div', { class: 'charts' }, ...Object.values(charts).map((c) => c.box)),
  );

  let timer = 0;
  let stopped = false;
  const fixed = (n: number | null, digits = 1) => (n === null || n === undefined ? '–' : n.toFixed(digits));

  const refresh = async () => {
    window.clearTimeout(timer);
    const ns = picker.value;
    if (!ns || stopped) return;
    const r = RANGES[Number(range.value)];
    try {
      const history = await call<History>('GET', `/api/v1/performances/${ns}/metrics?range=${r.range}&step=${r.step}`);
      const fns = Object.entries(history.functions).sort(([a], [b]) => a.localeCompare(b));
      const xs = [...new Set(fns.flatMap(([, points]) => points.map((p) => p.t)))].sort((a, b) => a - b);
      const at = (points: Point[], pick: (p: Point) => number | null) => {
        const byT = new Map(points.map((p) => [p.t, pick(p)]));
        return xs.map((t) => byT.get(t) ?? null);
      };
      const seconds = xs.map((t) => t / 1000);
      const now = Date.now() / 1000;
      const window: [number, number] = [now - r.seconds, now];
      charts.rate.draw(seconds, new Map(fns.map(([n, p]) => [n, at(p, (q) => q.requests_per_second)])), window);
      charts.errors.draw(seconds, new Map(fns.map(([n, p]) => [n, at(p, (q) => q.errors_per_second)])), window);
      charts.memory.draw(seconds, new Map(fns.map(([n, p]) => [n, at(p, (q) => q.memory_peak_bytes / 2 ** 20)])), window);
      charts.latency.draw(seconds, new Map(fns.flatMap(([n, p]) => [[`${n} p50`, at(p, (q) => q.p50_ms)], [`${n} p99`, at(p, (q) => q.p99_ms)]])), window);
      const sections = [...new Set(history.sales.flatMap((s) => s.sections.map((x) => x.name)))];
      charts.sales.draw(
        history.sales.map((s) => s.t / 1000),
        new Map(sections.flatMap((name) => [
          [`${name} sold`, history.sales.map((s) => s.sections.find((x) => x.name === name)?.sold ?? null)],
          [`${name} held`, history.sales.map((s) => s.sections.find((x) => x.name === name)?.held ?? null)],
        ])),
        window,
      );
      latest.replaceChildren(...fns.map(([name, points]) => {
        const p = points[points.length - 1];
        return h('tr', { 'data-function': name }, h('th', {}, name), h('td', {}, fixed(p.requests_per_second)), h('td', {}, fixed(p.p50_ms, 2)),
          h('td', {}, fixed(p.p99_ms, 2)), h('td', {}, fixed(p.errors_per_second)), h('td', {}, fixed(p.memory_peak_bytes / 2 ** 20)), h('td', {}, String(p.in_flight)));
      }));
      if (!fns.length) latest.replaceChildren(h('tr', {}, h('td', { colSpan: 7 }, 'No requests in this range yet.')));
      notice(message, '', 'ok');
    } catch (e) {
      notice(message, reason(e));
    }
    if (!stopped) timer = window.setTimeout(refresh, REFRESH_MS);
  };

  picker.addEventListener('change', () => {
    ctx.navigate(`#/monitor/${picker.value}`);
  });
  range.addEventListener('change', refresh);
  const observer = new ResizeObserver(() => Object.values(charts).forEach((c) => c.resize()));
  observer.observe(root);

  call<{ namespace: string; params: { title: string } }[]>('GET', '/api/v1/performances')
    .then((mine) => {
      picker.replaceChildren(...mine.map((p) => h('option', { value: p.namespace }, `${p.params.title} (${p.namespace})`)));
      if (ctx.args[0]) picker.value = ctx.args[0];
      if (!mine.length) notice(message, 'Deploy a performance to watch it here.', 'ok');
      refresh();
    })
    .catch((e) => notice(message, reason(e)));

  return () => {
    stopped = true;
    window.clearTimeout(timer);
    observer.disconnect();
    Object.values(charts).forEach((c) => c.destroy());
  };
}
