import t from 'tap';
import { lineChartSvg, type LinePanel } from '../../scripts/bench/line-chart.ts';
import { PlotSeries } from '../../scripts/bench/store-size.ts';
import { checkXml } from './xml.ts';

/** The points attribute of each polyline, parsed. */
function polylines(svg: string): { points: [number, number][]; stroke: string }[] {
  return [...svg.matchAll(/<polyline [^>]*stroke="([^"]+)"[^>]*points="([^"]*)"/g)].map((m) => ({
    stroke: m[1]!,
    points: m[2]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]),
  }));
}

/** A 1800 s soak of three replicas: RSS from the bench's one sample a second, store every 5 s. */
function soak(): LinePanel[] {
  const ids = ['n0', 'n1 (master)', 'n2 <&>'];
  const rss = ids.map(() => new PlotSeries(5));
  const store = ids.map(() => new PlotSeries(5));
  for (let sec = 0; sec <= 1800; sec++) {
    ids.forEach((_, i) => {
      rss[i]!.add(sec, 200 + i * 10 + Math.min(sec, 60));
      if (sec % 5 === 0) store[i]!.add(sec, 400 + (sec % 108) * 4);
    });
  }
  return [
    { title: 'Resident memory', yLabel: 'RSS (MiB)', series: ids.map((name, i) => ({ name, points: rss[i]!.points })) },
    { title: 'Store on disk', yLabel: 'store (MiB)', series: ids.map((name, i) => ({ name, points: store[i]!.points })) },
  ];
}

t.test('the soak chart: well-formed, one polyline per replica and panel, a point per 5 s, text escaped', async (t) => {
  const svg = lineChartSvg(soak(), { title: 'RSS & store', subtitle: 'deleteWhen=0;1;2; 3 nodes <dirty>' });
  t.same(checkXml(svg), []);
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.notMatch(svg, /<script|href=|NaN|undefined|Infinity/, 'self-contained, no bad numbers');
  const lines = polylines(svg);
  t.equal(lines.length, 6, 'three replicas in two panels');
  for (const l of lines) t.equal(l.points.length, 361, '1800 s at one point per 5 s');
  t.equal(new Set(lines.map((l) => l.stroke)).size, 3, 'a colour per replica');
  t.same(lines.slice(0, 3).map((l) => l.stroke), lines.slice(3).map((l) => l.stroke), 'the same replica has the same colour in both panels');
  t.match(svg, 'n2 &lt;&amp;&gt;');
  t.match(svg, 'RSS &amp; store');
  t.match(svg, 'RSS (MiB)');
  t.match(svg, 'store (MiB)');
  t.match(svg, 'time in the measured window (min)', 'a long window is labelled in minutes');
  t.equal(svg.match(/stroke-width="2.5"/g)?.length, 3, 'a legend entry per replica');
});

t.test('points are placed by value: larger values higher, later times further right, all inside the chart', async (t) => {
  const svg = lineChartSvg(
    [{ title: 'p', yLabel: 'MiB', series: [{ name: 'a', points: [[0, 0], [30, 50], [60, 100]] }, { name: 'b', points: [[0, 100], [60, 0]] }] }],
    { title: 't' },
  );
  const [a, b] = polylines(svg);
  t.equal(a!.points.length, 3);
  t.ok(a!.points[0]![0] < a!.points[1]![0] && a!.points[1]![0] < a!.points[2]![0], 'x grows with time');
  t.ok(a!.points[0]![1] > a!.points[1]![1] && a!.points[1]![1] > a!.points[2]![1], 'y (downwards in SVG) shrinks as the value grows');
  t.equal(a!.points[2]![1], b!.points[0]![1], 'equal values at equal heights');
  t.equal(a!.points[0]![1], b!.points[1]![1]);
  const [, , w, h] = svg.match(/viewBox="([^"]+)"/)![1]!.split(' ').map(Number);
  for (const [x, y] of [...a!.points, ...b!.points]) t.ok(x >= 0 && x <= w! && y >= 0 && y <= h!, `${x},${y} inside ${w}x${h}`);
  t.match(svg, 'time in the measured window (s)');
});

t.test('empty series and non-finite values give a well-formed chart without bad numbers', async (t) => {
  const svg = lineChartSvg(
    [{ title: 'p', yLabel: 'MiB', series: [{ name: 'a', points: [] }, { name: 'b', points: [[0, NaN], [5, 3]] }] }],
    { title: 'empty' },
  );
  t.same(checkXml(svg), []);
  t.notMatch(svg, /NaN|undefined|Infinity/);
  const lines = polylines(svg);
  t.equal(lines.length, 1, 'no polyline for a series without points');
  t.equal(lines[0]!.points.length, 1);
});
