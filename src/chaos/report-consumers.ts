// The chaos report's consumer-group part (--push-consumers): per group the calls, consumed,
// duplicate consumptions, retries and dead letters, then the findings of consume-check.ts.
import type { CheckResult } from './checker.ts';
import { fmtCount, fmtS } from './report-format.ts';
import { findingBlock, table } from './report-tables.ts';

export function renderConsumers(result: CheckResult): string {
  const c = result.consumers;
  if (!c) return '';
  const rows = c.groups.map((g) => [
    g.consumerGroup,
    g.orderly ? 'orderly' : 'concurrently',
    String(g.members),
    String(g.kills),
    String(g.rebalances),
    fmtCount(g.calls),
    fmtCount(g.failedCalls),
    fmtCount(g.consumed),
    String(g.duplicateConsumptions),
    String(g.dlq),
    String(g.overlapsInRebalance),
  ]);
  return `<section>
<h2>Consumer groups</h2>
${table(['group', 'consumes', 'members started', 'killed', 'rebalances', 'handler calls', 'failed calls', 'consumed', 'consumed again', 'in the DLQ', 'overlaps in a rebalance'], rows, [2, 3, 4, 5, 6, 7, 8, 9, 10])}
<p class="note">Consumed again (duplicate consumptions) and overlaps of two members on a queue next to a rebalance are expected around rebalances and kills: counted, not findings. ${c.retriesExplained} lost retries were excused by a rebalance of the failing member.</p>
${[
  findingBlock('Overlapping consumption', 'two members handled messages of one queue at once, away from any rebalance (ordered groups: any overlap)', c.overlaps, ['group', 'queue', 'member', 'id', 'from', 'to', 'member', 'id', 'from', 'to'], (x) => [
    x.consumerGroup,
    x.queue,
    x.a.member,
    x.a.id,
    fmtS(x.a.startT),
    fmtS(x.a.endT),
    x.b.member,
    x.b.id,
    fmtS(x.b.startT),
    fmtS(x.b.endT),
  ]),
  findingBlock('Unconsumed', 'acknowledged, yet never consumed successfully and not in the DLQ', c.unconsumed, ['group', 'id', 'failed calls'], (x) => [x.consumerGroup, x.id, String(x.failures)]),
  findingBlock('Retries', 'reconsumeTimes skipped, a retry that never came back counted up, a last failure not in the DLQ, or a DLQ message that failed too few times', c.retries, ['group', 'id', 'rule', 'reconsumeTimes', 'member', 'at'], (x) => [
    x.consumerGroup,
    x.id,
    x.rule,
    String(x.reconsumeTimes),
    x.member ?? '',
    x.t !== undefined ? fmtS(x.t) : '',
  ]),
  findingBlock('Consumed out of order', 'ordered group: a message of a key first handled before an earlier one of its queue', c.orderly, ['group', 'key', 'queue', 'stored first (first handled at)', 'handled first (at)'], (x) => [
    x.consumerGroup,
    x.key,
    x.queue,
    `${x.storedFirst.id} @${x.storedFirst.queueOffset} (${fmtS(x.storedFirst.firstStartT)})`,
    `${x.handledFirst.id} @${x.handledFirst.queueOffset} (${fmtS(x.handledFirst.firstStartT)})`,
  ]),
].join('\n')}
</section>`;
}
