import t from 'tap';
import { ThrottledWarning } from '../../src/broker/throttled-warning.ts';

t.test('a recurring warning: the first at once, the rest summed up in one line per interval', async (t) => {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  const w = new ThrottledWarning({ warn: (fields, msg) => lines.push({ fields: fields as Record<string, unknown>, msg }) }, 'peer slow', 50);
  w.note('n1', 'queue full');
  t.equal(lines.length, 1, 'the first occurrence is logged at once');
  t.same(lines[0]!.fields.counts, { n1: 1 });
  for (let i = 0; i < 1000; i++) w.note(i % 2 ? 'n1' : 'n2', 'queue full');
  t.equal(lines.length, 1, '1,000 more within the interval: no more lines yet');
  await new Promise((r) => setTimeout(r, 120));
  t.equal(lines.length, 2, 'one summary line at the end of the interval');
  t.same(lines[1]!.fields.counts, { n1: 500, n2: 500 }, 'with the counts by key');
  await new Promise((r) => setTimeout(r, 120));
  t.equal(lines.length, 2, 'nothing more when nothing happened');
});
