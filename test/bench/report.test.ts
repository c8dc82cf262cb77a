import t from 'tap';
import { markdownReport, markdownTable, median, medianFigures, type CompareCell } from '../../scripts/bench/report.ts';
import type { BenchFigures, FlushType } from '../../scripts/bench/run.ts';
import { escapeXml, formatRate, niceAxis, svgChart } from '../../scripts/bench/svg-chart.ts';
import { checkXml } from './xml.ts';

function figures(nodes: number, size: number, inflight: number, flush: FlushType, msgsPerSec: number): BenchFigures {
  return {
    nodes, size, inflight, flush, msgsPerSec, mbPerSec: (msgsPerSec * size) / 1e6, p50Ms: 1.23, p99Ms: 12.3, p999Ms: 45.6,
    serverCpuSecPer100k: 2.5, clientCpuSecPer100k: 0.4, serverRssMiB: 210.5,
  };
}

/** The full matrix, with one failed cell and a note that needs escaping in both formats. */
function matrix(): CompareCell[] {
  const cells: CompareCell[] = [];
  for (const nodes of [3, 5])
    for (const size of [128, 1024])
      for (const inflight of [1, 64, 256])
        for (const flush of ['SYNC_FLUSH', 'ASYNC_FLUSH'] as const) {
          const failed = nodes === 5 && size === 128 && inflight === 64 && flush === 'ASYNC_FLUSH';
          cells.push({
            nodes, size, inflight, flush,
            figures: failed ? null : figures(nodes, size, inflight, flush, inflight * 100 + nodes + size),
            failedSends: failed ? 0 : inflight === 256 ? 3 : 0,
            otherCpuPercent: failed ? NaN : 12,
            note: failed ? 'no master within 20000 ms <&> | x' : '',
          });
        }
  return cells;
}

t.test('the SVG is well-formed, has a bar per measured cell and escapes text', async (t) => {
  const svg = svgChart(matrix(), 'commit abc <dirty> & more');
  t.same(checkXml(svg), []);
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.equal(svg.match(/<rect class="bar"/g)?.length, 23, '23 bars, one cell failed');
  t.match(svg, /failed<title>[^<]*&lt;&amp;&gt;/, 'the failed cell is marked and its note escaped');
  for (const inflight of [1, 64, 256]) t.match(svg, `${inflight} in flight`);
  t.notMatch(svg, /NaN|undefined|Infinity/);
  t.match(svg, 'commit abc &lt;dirty&gt; &amp; more');
  t.same(checkXml(svgChart([])), [], 'an empty chart is still well-formed');
});

t.test('the checker itself catches broken XML', async (t) => {
  t.not(checkXml('<svg><g></svg>').length, 0);
  t.not(checkXml('<svg><text>a & b</text></svg>').length, 0);
  t.not(checkXml('<svg><text>a < b</text></svg>').length, 0);
});

t.test('the Markdown table has a header, a separator and one row per cell, all the same width', async (t) => {
  const cells = matrix();
  const lines = markdownTable(cells).split('\n');
  t.equal(lines.length, 2 + cells.length);
  const columns = (line: string): number => line.replace(/\\\|/g, '').split('|').length;
  for (const line of lines) t.equal(columns(line), columns(lines[0]), line);
  t.match(lines[1], /^\|(---:?\|)+$/);
  t.match(markdownTable(cells), /\| 3 \| 128 \| 1 \| SYNC_FLUSH \| 231 \|/);
  t.match(markdownTable(cells), /no master within 20000 ms <&> \\\| x \|$/m, 'a pipe in a note is escaped');
  const report = markdownReport(cells, { date: 'D', machine: 'M', machineFigures: 'crc32 9 GB/s', commit: 'C', durationSec: 5, warmupSec: 3, runs: 1, producers: 1 });
  t.match(report, /^# raftmq benchmark matrix\n/);
  t.match(report, /Machine figures [^\n]*: crc32 9 GB\/s\./, 'the machine figures are in the header');
  t.match(report, /!\[[^\]]*\]\(bench\.svg\)/);
});

t.test('medians per figure over runs', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  const runs = [figures(3, 1024, 256, 'SYNC_FLUSH', 100), figures(3, 1024, 256, 'SYNC_FLUSH', 300), figures(3, 1024, 256, 'SYNC_FLUSH', 200)];
  const m = medianFigures(runs);
  t.equal(m.msgsPerSec, 200);
  t.equal(m.nodes, 3);
  t.equal(m.flush, 'SYNC_FLUSH');
  // Each figure on its own: the run with the median msgsPerSec (200) has neither median p99 nor
  // median server CPU, and an even count of runs averages the middle two.
  const mixed = [
    { ...figures(3, 1024, 256, 'SYNC_FLUSH', 100), p99Ms: 30, serverCpuSecPer100k: 1 },
    { ...figures(3, 1024, 256, 'SYNC_FLUSH', 300), p99Ms: 20, serverCpuSecPer100k: 3 },
    { ...figures(3, 1024, 256, 'SYNC_FLUSH', 200), p99Ms: 10, serverCpuSecPer100k: 5 },
  ];
  const mm = medianFigures(mixed);
  t.equal(mm.msgsPerSec, 200);
  t.equal(mm.p99Ms, 20);
  t.equal(mm.serverCpuSecPer100k, 3);
  t.equal(medianFigures(mixed.slice(0, 2)).p99Ms, 25);
  t.equal(medianFigures([{ ...mixed[0], p999Ms: NaN }, mixed[1]]).p999Ms, 45.6, 'a NaN figure of one run is left out');
});

t.test('number formats', async (t) => {
  t.equal(formatRate(812), '812');
  t.equal(formatRate(15_234), '15.2k');
  t.equal(formatRate(60_000), '60k');
  t.equal(formatRate(152_345), '152k');
  t.equal(formatRate(1_234_567), '1.23M');
  t.same(niceAxis(15_234), { top: 20_000, step: 5000 });
  t.same(niceAxis(0), { top: 1, step: 0.25 });
  t.equal(escapeXml('a<b & "c">'), 'a&lt;b &amp; &quot;c&quot;&gt;');
});
