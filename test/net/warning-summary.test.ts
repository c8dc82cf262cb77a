import t from 'tap';
import { SUMMARY_ADDRESSES_LISTED_MAX, SUMMARY_ADDRESSES_MAX, WarningSummary } from '../../src/net/index.ts';

interface Line {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

function summary(intervalMs: number): { w: WarningSummary; lines: Line[] } {
  const lines: Line[] = [];
  const w = new WarningSummary({ log: (level, msg, fields) => lines.push({ level, msg, fields: fields ?? {} }), msg: 'refused', intervalMs });
  return { w, lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('the first event is logged at once with its details; the rest of the interval becomes one line of counts', async (t) => {
  const { w, lines } = summary(100);
  t.teardown(() => w.close());
  w.note('addressLimit', '10.0.0.1', { reason: 'first one' });
  t.same(lines, [{ level: 'warn', msg: 'refused', fields: { event: 'addressLimit', remote: '10.0.0.1', reason: 'first one', nextSummaryInMs: 100 } }]);
  for (let i = 0; i < 1000; i++) w.note(i % 4 === 0 ? 'evicted' : 'addressLimit', `10.0.0.${i % 3}`, { reason: 'not logged' });
  t.equal(lines.length, 1, '1,000 more events, no more lines yet');
  while (lines.length < 2) await sleep(10);
  t.same(lines[1], {
    level: 'warn',
    msg: 'refused',
    fields: {
      summary: true,
      events: 1000,
      intervalMs: 100,
      byKind: { evicted: 250, addressLimit: 750 },
      addressCount: 3,
      busiestAddresses: { '10.0.0.0': 334, '10.0.0.1': 333, '10.0.0.2': 333 },
    },
  });
  await sleep(300);
  t.equal(lines.length, 2, 'a quiet interval logs nothing and ends the summary');
  w.note('closing', '10.0.0.9');
  t.match(lines[2], { fields: { event: 'closing', remote: '10.0.0.9' } }, 'after a quiet interval the next event is logged at once again');
});

t.test('addresses are counted up to a bound and only the busiest are named', async (t) => {
  const { w, lines } = summary(60_000);
  w.note('connectionLimit', 'first');
  for (let i = 0; i < SUMMARY_ADDRESSES_MAX + 36; i++) for (let k = 0; k <= i % 3; k++) w.note('connectionLimit', `a${i}`);
  w.close();
  const fields = lines[1].fields;
  t.equal(fields.addressCount, SUMMARY_ADDRESSES_MAX);
  t.ok((fields.otherAddressEvents as number) > 0, 'events of addresses beyond the bound are still counted');
  t.equal(Object.keys(fields.busiestAddresses as object).length, SUMMARY_ADDRESSES_LISTED_MAX);
  t.ok(Object.values(fields.busiestAddresses as object).every((n) => n === 3), 'the busiest first');
  w.note('connectionLimit', 'after');
  t.equal(lines.length, 2, 'a closed summary logs nothing');
});
