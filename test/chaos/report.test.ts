// The HTML report: self-contained, well-formed, escaped, and showing what the checker found.
import t from 'tap';
import {
  checkHistory,
  type HistoryEvent,
  type ReplicaDump,
  esc,
  masterChanges,
  renderReport,
  timelineSeries,
  type ReportMeta,
} from '../../src/chaos/index.ts';

function invoke(client: string, id: string, at: number): HistoryEvent {
  return { t: at, wall: at, client, op: 'send', type: 'invoke', id, topic: 'T' };
}

function ok(client: string, id: string, at: number, latencyMs: number, queueOffset: number): HistoryEvent {
  return { t: at, wall: at, client, op: 'send', type: 'ok', id, topic: 'T', latencyMs, queueId: 0, queueOffset };
}

function failed(client: string, id: string, at: number, type: 'fail' | 'unknown'): HistoryEvent {
  return { t: at, wall: at, client, op: 'send', type, id, topic: 'T', error: type === 'fail' ? 'NOT_MASTER' : 'timeout <3s>' };
}

function master(node: string, at: number, term?: number): HistoryEvent {
  return { t: at, wall: at, client: 'monitor', op: 'master', type: 'info', node, ...(term !== undefined ? { term } : {}) };
}

/** 20 s at 10 sends a second; a leader kill at 5-7 s with failures at 5.0-5.4 s; a partition at
 *  12-15 s without impact; message m42 acknowledged but lost. */
function run(): { events: HistoryEvent[]; dumps: ReplicaDump[] } {
  const events: HistoryEvent[] = [master('n0', 100, 1)];
  const stored: string[] = [];
  for (let i = 0; i < 200; i++) {
    const at = i * 100;
    const id = `m${i}`;
    events.push(invoke(`p${i % 2}`, id, at));
    if (at >= 5000 && at < 5400) events.push(failed(`p${i % 2}`, id, at + 50, i % 2 ? 'fail' : 'unknown'));
    else {
      events.push(ok(`p${i % 2}`, id, at + 5 + (i % 10), 5 + (i % 10), stored.length));
      if (id !== 'm42') stored.push(id);
      else stored.push('');
    }
  }
  events.push(
    { t: 5000, wall: 5000, client: 'nemesis', op: 'fault', type: 'start', fault: 'leader-kill', faultId: 1, detail: 'kill n0 <pid 12>' },
    { t: 7000, wall: 7000, client: 'nemesis', op: 'fault', type: 'end', fault: 'leader-kill', faultId: 1 },
    { t: 12_000, wall: 12_000, client: 'nemesis', op: 'fault', type: 'start', fault: 'random-partition', faultId: 2 },
    { t: 15_000, wall: 15_000, client: 'nemesis', op: 'fault', type: 'end', fault: 'random-partition', faultId: 2 },
    master('', 5010, 1),
    master('n1', 5400, 2),
    master('n1', 5500, 2),
  );
  events.sort((a, b) => a.t - b.t);
  const messages = stored.map((id, i) => ({ id, topic: 'T', queueId: 0, queueOffset: i, logIndex: i + 1 }));
  const entries = messages.map((m) => ({ index: m.logIndex, term: 1, hash: `h${m.logIndex}` }));
  const dumps = ['n0', 'n1', 'n2'].map((node) => ({ node, commitIndex: messages.length, entries, messages }));
  return { events, dumps };
}

const META: ReportMeta = { title: 'chaos <3 nodes> & "friends"', nodes: 3, seed: 7, faults: ['leader-kill', 'random-partition'], durationS: 20 };

/** Every element is closed or self-closing, in order (HTML void elements aside). */
function unbalancedTag(html: string): string | null {
  const voids = new Set(['meta', 'br', '!DOCTYPE']);
  const stack: string[] = [];
  const body = html.replace(/<style>[\s\S]*?<\/style>/, '<style></style>');
  for (const m of body.matchAll(/<(\/?)([!A-Za-z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (voids.has(name) || selfClosing) continue;
    if (!closing) stack.push(name);
    else if (stack.pop() !== name) return `</${name}> at ${m.index}`;
  }
  return stack.length ? `<${stack.at(-1)}> never closed` : null;
}

t.test('the report is one self-contained, well-formed page', async (t) => {
  const { events, dumps } = run();
  const html = renderReport(events, checkHistory(events, dumps), META);
  t.match(html, /^<!DOCTYPE html>/);
  t.equal(unbalancedTag(html), null);
  t.notMatch(html, /<script|<link|<img|\bsrc=|url\(|@import/i, 'no scripts, no external resources');
  t.same(html.match(/https?:\/\/[^"\s]*/g), ['http://www.w3.org/2000/svg'], 'the only address is the SVG namespace');
  t.equal((html.match(/<svg/g) ?? []).length, 1);
});

t.test('all text from the history and the meta is escaped', async (t) => {
  const { events, dumps } = run();
  const evil = '<script>alert(1)</script>';
  const hostile: HistoryEvent[] = [
    ...events,
    { t: 16_000, wall: 0, client: 'nemesis', op: 'fault', type: 'start', fault: evil, faultId: 3, detail: '"><img onerror=x>' },
    master(evil, 16_100),
  ];
  const html = renderReport(hostile, checkHistory(hostile, dumps), { ...META, title: evil, faults: [evil] });
  t.notMatch(html, /<script|<img/);
  t.match(html, '&lt;script&gt;alert(1)&lt;/script&gt;');
  t.match(html, '&quot;&gt;&lt;img onerror=x&gt;');
  t.match(html, `<title>${esc(evil)}</title>`);
  t.equal(esc(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  t.equal(unbalancedTag(html), null);
});

t.test('the timeline shades each fault window, labels it, and marks each master change', async (t) => {
  const { events, dumps } = run();
  const result = checkHistory(events, dumps);
  const html = renderReport(events, result, META);
  t.equal((html.match(/fill-opacity="0.28"><title>leader-kill #1 /g) ?? []).length, 1, 'one shaded window for the leader kill');
  t.equal((html.match(/fill-opacity="0.28"><title>random-partition #2 /g) ?? []).length, 1);
  t.match(html, /<text class="label"[^>]*>leader-kill<\/text>/);
  t.match(html, /<text class="label"[^>]*>random-partition<\/text>/);
  t.match(html, 'kill n0 &lt;pid 12&gt;', 'the fault detail, in the tooltip and the table');
  t.equal((html.match(/<g class="master">/g) ?? []).length, 2, 'n0, then n1 (the repeated n1 is not a change)');
  t.equal((html.match(/<g class="master none">/g) ?? []).length, 1, 'no master between them: a grey line');
  t.match(html, /<g class="master"><title>5.4 s: master n1 \(term 2\)<\/title>/);
  t.match(html, /class="unavailable"[^>]*><title>leader-kill #1: unavailable/, 'the unavailability window is drawn');
  t.match(html, 'acked sends per second');
  t.match(html, 'latency of acked sends (log scale)');
});

t.test('the tables show the verdict, findings with examples, and recovery per fault', async (t) => {
  const { events, dumps } = run();
  const result = checkHistory(events, dumps);
  t.equal(result.lost.count, 1);
  const html = renderReport(events, result, META);
  t.match(html, '<span class="badge fail">FAIL</span>');
  t.match(html, /<h3 class="bad">Lost: 1<\/h3>/);
  t.match(html, /<td>m42<\/td><td>p0<\/td><td>4.2 s<\/td>/, 'the lost message with its client and ack time');
  t.match(html, /<h3 class="ok">Reordered: 0<\/h3>/);
  t.match(html, /<h3 class="ok">Divergent: 0<\/h3>/);
  const recoveryRow = html.match(/<tr><td>leader-kill<\/td>.*?<\/tr>/)?.[0] ?? '';
  t.match(recoveryRow, /<td class="num">1<\/td><td class="num">1<\/td><td class="num">(\d+) ms<\/td>/, 'one injection, one with failures');
  t.match(html, /<tr><td>random-partition<\/td><td class="num">1<\/td><td class="num">0<\/td><td class="num">–<\/td>/, 'no impact');
  t.match(html, '&quot;lost&quot;:1', 'the summary line');

  const cleanDumps = dumps.map((d) => ({ ...d, messages: d.messages.map((m) => (m.id === '' ? { ...m, id: 'm42' } : m)) }));
  const passing = renderReport(events, checkHistory(events, cleanDumps), META);
  t.match(passing, '<span class="badge pass">PASS</span>');
  t.match(passing, /<h3 class="ok">Lost: 0<\/h3>/);
});

t.test('two broker groups: a line per group, each group\u2019s masters, and duplicates judged as idempotent', async (t) => {
  const { events, dumps } = run();
  // broker-b stores m7 again: a message in two groups.
  const other = [{ id: 'm7', topic: 'T', queueId: 0, queueOffset: 0, logIndex: 1 }];
  const bDumps = ['b0', 'b1', 'b2'].map((node) => ({ node, group: 'broker-b', commitIndex: 1, entries: [{ index: 1, term: 1, hash: 'b1' }], messages: other, retriesAnswered: 3 }));
  const all = [...dumps.map((d) => ({ ...d, group: 'broker-a', node: d.node.replace('n', 'a') })), ...bDumps];
  const withMasters = [...events, { t: 200, wall: 200, client: 'monitor', op: 'master', type: 'info', group: 'broker-b', node: 'b1', term: 1 } as HistoryEvent];
  withMasters.sort((a, b) => a.t - b.t);
  const result = checkHistory(withMasters, all, { idempotentProducers: true });
  const html = renderReport(withMasters, result, { ...META, groups: 2 });
  t.equal(unbalancedTag(html), null);
  t.match(html, '<h2>Broker groups</h2>');
  t.match(html, /<tr><td>broker-b<\/td><td>b0, b1, b2<\/td><td>b0<\/td><td class="num">1<\/td><td class="num">1<\/td><td class="num">3<\/td>/, 'broker-b: commit index, stored, retries answered');
  t.match(html, /<h3 class="bad">Duplicated: 1<\/h3>/);
  t.match(html, /<td>m7<\/td><td>2<\/td><td>broker-a, broker-b<\/td>/, 'the duplicate names both groups');
  t.match(html, 'idempotent producers: any duplicate is a finding');
  t.match(html, /<tr><td>broker-b<\/td><td>0.2 s<\/td><td>b1<\/td>/, 'master changes per group');
  t.match(html, '3 retried batches answered from a producer');
  const oneGroup = renderReport(events, checkHistory(events, dumps), META);
  t.notMatch(oneGroup, 'Broker groups', 'one group: no group table');
});

t.test('an empty run renders', async (t) => {
  const html = renderReport([], checkHistory([], []), { title: 'empty', nodes: 3, faults: [], durationS: 0 });
  t.equal(unbalancedTag(html), null);
  t.match(html, 'No faults were injected.');
  t.match(html, '<span class="badge pass">PASS</span>');
});

t.test('timeline series: acks, failures and latency percentiles per second', async (t) => {
  const events: HistoryEvent[] = [
    invoke('p0', 'a', 0),
    ok('p0', 'a', 10, 10, 0),
    invoke('p0', 'b', 20),
    { ...ok('p0', 'b', 60, 40, 1), latencyMs: undefined } as HistoryEvent, // latency from the invoke
    invoke('p0', 'c', 900),
    failed('p0', 'c', 1100, 'unknown'),
    invoke('p0', 'd', 2500),
    ok('p0', 'd', 2600, 100, 2),
  ];
  const s = timelineSeries(events);
  t.equal(s.seconds, 3);
  t.same(s.acked, [2, 0, 1]);
  t.same(s.failed, [0, 1, 0]);
  t.same(s.p50.slice(0, 1), [10]);
  t.same(s.p99.slice(0, 1), [40]);
  t.ok(Number.isNaN(s.p50[1]), 'no acks in second 1: a gap in the line');
  t.same(s.p50[2], 100);
  t.same(
    masterChanges([master('n0', 1), master('n0', 2), master('', 3), master('n1', 4), master('n1', 5)]).map((m) => m.node),
    ['n0', '', 'n1'],
  );
});

t.test('a 10-minute run of a million events renders quickly and stays small', async (t) => {
  const events: HistoryEvent[] = [];
  for (let i = 0; i < 600_000; i++) {
    const at = i;
    events.push(invoke(`p${i % 8}`, `m${i}`, at), ok(`p${i % 8}`, `m${i}`, at + 5, 5, i));
  }
  const result = checkHistory(events, []);
  const started = performance.now();
  const html = renderReport(events, result, { ...META, durationS: 600 });
  const ms = performance.now() - started;
  t.comment(`${events.length} events: rendered in ${Math.round(ms)} ms, ${Math.round(html.length / 1024)} KiB`);
  t.ok(ms < 10_000);
  t.ok(html.length < 2_000_000, 'the page stays small: one point per second, first examples only');
});
