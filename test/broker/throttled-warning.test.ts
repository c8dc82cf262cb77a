import t from 'tap';
import { ThrottledWarning } from '../../src/broker/throttled-warning.ts';

t.test('a recurring warning: the first of each key at once, the rest summed up in one line per key and interval', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const w = new ThrottledWarning({ warn: (fields) => lines.push(fields as Record<string, unknown>) }, 'peer slow', 50);
  w.note('n1', 'queue full');
  t.equal(lines.length, 1, 'the first occurrence is logged at once');
  t.match(lines[0], { key: 'n1', count: 1, reason: 'queue full' });
  w.note('n2', 'refused');
  t.equal(lines.length, 2, 'so is the first of another key');
  for (let i = 0; i < 1000; i++) w.note(i % 2 ? 'n1' : 'n2', `again ${i}`);
  t.equal(lines.length, 2, '1,000 more within the interval: no more lines yet');
  await new Promise((r) => setTimeout(r, 120));
  t.equal(lines.length, 4, 'one summary line per key at the end of the interval');
  t.same(lines.slice(2).map((l) => [l.key, l.count, l.reason]).sort(), [['n1', 500, 'again 999'], ['n2', 500, 'again 998']], 'with the count and the last reason');
  await new Promise((r) => setTimeout(r, 120));
  t.equal(lines.length, 4, 'nothing more when nothing happened');
});
