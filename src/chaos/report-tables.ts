// The chaos report's tables: the verdict, the headline counts, per-group lines, recovery per
// fault, the findings with their first examples, the injections and the master changes.
import type { CheckResult, FaultImpact, Finding } from './checker.ts';
import type { MasterChange, ReportMeta } from './report-data.ts';
import { esc, fmtCount, fmtMs, fmtS, opt } from './report-format.ts';


export function verdictBadge(result: CheckResult): string {
  return result.ok ? '<span class="badge pass">PASS</span>' : '<span class="badge fail">FAIL</span>';
}

export function metaLine(meta: ReportMeta, result: CheckResult): string {
  const parts = [`${meta.nodes} nodes`, `${meta.durationS} s`, `faults: ${meta.faults.join(', ') || 'none'}`];
  if (meta.groups !== undefined && meta.groups > 1) parts.splice(1, 0, `${meta.groups} broker groups`);
  if (meta.seed !== undefined) parts.push(`seed ${meta.seed}`);
  parts.push(result.idempotentProducers ? 'idempotent producers: any duplicate is a finding' : 'producers without idempotence: duplicates after a retry are explained');
  if (result.referenceNode !== undefined) parts.push(`final log read from ${result.referenceNode}`);
  return parts.join(' · ');
}

export function renderHeadline(result: CheckResult): string {
  const cards: [string, string, boolean][] = [
    ['acked', fmtCount(result.sends.acked), false],
    ['lost', String(result.lost.count), result.lost.count > 0],
    ['expired by retention', String(result.expiredByRetention.count), false],
    ['duplicated', `${result.duplicated.count}${result.duplicated.count && !result.idempotentProducers ? ` (${result.duplicated.unexplained} unexplained)` : ''}`, result.duplicated.unexplained > 0],
    ['reordered', String(result.reordered.count), result.reordered.count > 0],
    ['divergent', String(result.divergent.count), result.divergent.count > 0],
    ['failed but stored', String(result.failedButStored.count), result.failedButStored.count > 0],
    ['misplaced', String(result.misplaced.count), result.misplaced.count > 0],
    ['phantom', String(result.phantom.count), result.phantom.count > 0],
    ['fault injections', String(result.faultInjections), false],
    ['unavailable outside faults', String(result.unavailableOutsideFaults.length), result.unavailableOutsideFaults.length > 0],
  ];
  const s = result.sends;
  return `<section class="cards">${cards.map(([label, value, bad]) => `<div class="card${bad ? ' bad' : ''}"><div class="value">${esc(value)}</div><div class="label">${esc(label)}</div></div>`).join('')}</section>
<p class="meta">${esc(`${fmtCount(s.ids)} message ids, ${fmtCount(s.attempts)} attempts: ${fmtCount(s.acked)} ok, ${fmtCount(s.failed)} failed, ${fmtCount(s.unknown)} unknown; ${fmtCount(result.received)} received by consumers; ${retriesAnswered(result)}; run length ${fmtS(result.runEndT)}`)}</p>`;
}

export function renderRecoveryByFault(result: CheckResult): string {
  const rows = Object.entries(result.recoveryByFault).map(([fault, s]) => [fault, String(s.injections), String(s.count), s.count ? fmtMs(s.p50) : '–', s.count ? fmtMs(s.max) : '–', fmtMs(s.stallP50), fmtMs(s.stallMax)]);
  if (!rows.length) return '<p class="none">No faults were injected.</p>';
  return (
    table(['fault', 'injections', 'caused failures', 'unavailable p50', 'unavailable max', 'longest stall p50', 'longest stall max'], rows, [1, 2, 3, 4, 5, 6]) +
    '<p class="note">Unavailable: from the first send that failed or timed out after the injection to the next acknowledged send. Longest stall: the longest time during the fault (and its grace period) in which no send was acknowledged, which also shows a failover the client hid by retrying.</p>'
  );
}

export function renderInjections(recovery: FaultImpact[]): string {
  if (!recovery.length) return '<p class="none">None.</p>';
  const rows = recovery.map((f) => [
    `#${f.faultId}`,
    f.fault,
    f.detail ?? '',
    fmtS(f.startT),
    f.healed ? fmtS(f.endT) : 'not healed',
    f.firstFailureT === undefined ? 'no failed writes' : `${fmtS(f.firstFailureT)} (${f.firstError ?? ''})`,
    f.recoveryMs === undefined ? '–' : `${fmtMs(f.recoveryMs)}${f.recoveredT === undefined ? ' (never recovered)' : ''}`,
    fmtMs(f.stallMs),
  ]);
  return table(['id', 'fault', 'detail', 'start', 'healed', 'first failure', 'unavailable', 'longest stall'], rows, [6, 7]);
}

export function renderOutside(result: CheckResult): string {
  const windows = result.unavailableOutsideFaults;
  if (!windows.length) return '<p class="none ok">None: every failed send happened during a fault or its grace period.</p>';
  const rows = windows.map((w) => [fmtS(w.fromT), w.recovered ? fmtS(w.toT) : 'never', fmtMs(w.durationMs), String(w.failures), w.firstError]);
  return table(['from', 'to (next ok)', 'duration', 'failed sends', 'first error'], rows, [2, 3]);
}

export function renderMasters(masters: MasterChange[]): string {
  if (!masters.length) return '<p class="none">The monitor recorded no master.</p>';
  const grouped = masters.some((m) => m.group !== undefined);
  const previous = new Map<string, number>();
  const rows = masters.map((m) => {
    const before = previous.get(m.group ?? '');
    previous.set(m.group ?? '', m.t);
    const row = [fmtS(m.t), m.node || 'no master', m.term === undefined ? '' : String(m.term), before === undefined ? '' : fmtMs(m.t - before)];
    return grouped ? [m.group ?? '', ...row] : row;
  });
  return grouped ? table(['group', 'time', 'master', 'term', 'since the group\u2019s previous change'], rows, [3, 4]) : table(['time', 'master', 'term', 'since previous change'], rows, [2, 3]);
}

/** The replicas' answers to idempotent retries, for the headline. */
function retriesAnswered(result: CheckResult): string {
  const n = result.groups.reduce((sum, g) => sum + g.retriesAnswered, 0);
  return `${fmtCount(n)} retried batch${n === 1 ? '' : 'es'} answered from a producer\u2019s window (in the log, not stored again)`;
}

/** One row per broker group (only when the run has several). */
export function renderGroups(result: CheckResult): string {
  if (result.groups.length < 2) return '';
  const rows = result.groups.map((g) => [
    g.group || '(unnamed)',
    g.replicas.join(', '),
    g.referenceNode ?? '',
    String(g.commitIndex),
    fmtCount(g.stored),
    String(g.retriesAnswered),
    fmtCount(g.acked),
    String(g.lost),
    String(g.duplicated),
    String(g.reordered),
    String(g.divergent),
  ]);
  return `<section>
<h2>Broker groups</h2>
${table(['group', 'replicas', 'final log from', 'commit index', 'stored', 'retries answered', 'acked', 'lost', 'duplicated', 'reordered', 'divergent'], rows, [3, 4, 5, 6, 7, 8, 9, 10])}
<p class="note">Replicas are compared within their group (divergent); lost and reordered count by the group the ack named; duplicated counts an id in each group that stores it, so a message in two groups shows in both.</p>
</section>`;
}

export function renderFindings(result: CheckResult): string {
  return [
    findingBlock('Lost', 'acknowledged, yet in no replica’s committed log and never received', result.lost, ['id', 'client', 'acked at', 'key', 'topic', 'queue', 'offset'], (x) => [
      x.id,
      x.client,
      fmtS(x.ackT),
      x.key ?? '',
      x.topic,
      `${x.group !== undefined ? `${x.group}/` : ''}${opt(x.queueId)}`,
      opt(x.queueOffset),
    ]),
    findingBlock(
      'Duplicated',
      result.idempotentProducers
        ? `stored more than once (${result.duplicated.acrossGroups} of them by two groups): every producer was idempotent, so each is a finding`
        : `stored more than once (${result.duplicated.acrossGroups} of them by two groups): ${result.duplicated.explained} explained by an unknown outcome or a retry, ${result.duplicated.unexplained} unexplained`,
      result.duplicated,
      ['id', 'copies', 'groups', 'log indexes', 'explained', 'why'],
      (x) => [x.id, String(x.copies), (x.groups ?? []).join(', '), x.logIndexes.join(', '), x.explained ? 'yes' : 'NO', x.reason],
      result.duplicated.unexplained > 0,
    ),
    findingBlock('Failed but stored', 'the send failed definitely, yet the message is in the log', result.failedButStored, ['id', 'log index', 'replica', 'error'], (x) => [x.id, String(x.logIndex), x.node, x.error]),
    findingBlock('Reordered', 'acknowledged before the other send was invoked, yet stored after it', result.reordered, ['rule', 'client', 'topic', 'key / queue', 'earlier (acked at)', 'stored at', 'later (invoked at)', 'stored at'], (x) => [
      x.rule,
      x.client,
      x.topic,
      x.group,
      `${x.earlier.id} (${fmtS(x.earlier.ackT)})`,
      x.earlier.position,
      `${x.later.id} (${fmtS(x.later.invokeT)})`,
      x.later.position,
    ]),
    findingBlock('Divergent', 'replica pairs of one group whose committed logs differ', result.divergent, ['replicas', 'first index', 'what', 'detail'], (x) => [`${x.a} / ${x.b}`, String(x.index), x.what, x.detail]),
    findingBlock('Misplaced', 'an ack or a receive named a queue slot that stores another message', result.misplaced, ['source', 'id', 'client', 'topic', 'queue', 'offset', 'stored there'], (x) => [
      x.source,
      x.id,
      x.client,
      x.topic,
      `${x.group !== undefined ? `${x.group}/` : ''}${x.queueId}`,
      String(x.queueOffset),
      x.storedId,
    ]),
    findingBlock('Phantom', 'stored messages the workload never sent', result.phantom, ['id', 'log index', 'replica'], (x) => [x.id, String(x.logIndex), x.node]),
  ].join('\n');
}

export function findingBlock<T>(title: string, what: string, finding: Finding<T>, headers: string[], row: (x: T) => string[], bad = finding.count > 0): string {
  const head = `<h3 class="${bad ? 'bad' : finding.count ? 'warn' : 'ok'}">${esc(title)}: ${finding.count}</h3><p class="note">${esc(what)}.</p>`;
  if (!finding.count) return `<div class="finding">${head}</div>`;
  const more = finding.count > finding.examples.length ? `<p class="note">First ${finding.examples.length} of ${finding.count}.</p>` : '';
  return `<div class="finding">${head}${table(headers, finding.examples.map(row))}${more}</div>`;
}

export function table(headers: string[], rows: string[][], numeric: number[] = []): string {
  const align = (i: number) => (numeric.includes(i) ? ' class="num"' : '');
  const head = headers.map((h, i) => `<th${align(i)}>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c, i) => `<td${align(i)}>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

