import t from 'tap';
import { RssSeries } from '../../scripts/bench/rss-series.ts';

t.test('first, last, max and the fitted growth per minute', async (t) => {
  const s = new RssSeries();
  t.ok(Number.isNaN(s.slopeMiBPerMin), 'no samples: no trend');
  for (let sec = 0; sec <= 60; sec++) s.add(sec, 100 + sec * 0.5 + (sec % 2 === 0 ? 1 : -1));
  t.equal(s.first, 101);
  t.equal(s.last, 131);
  t.equal(s.max, 131);
  t.ok(Math.abs(s.slopeMiBPerMin - 30) < 0.5, `slope ${s.slopeMiBPerMin}`);
  s.add(61, NaN);
  t.equal(s.last, 131, 'a missing sample (process gone) is skipped');
});

t.test('flat memory has a trend near zero', async (t) => {
  const s = new RssSeries();
  for (let sec = 0; sec < 600; sec++) s.add(sec, 200 + (sec % 10));
  t.ok(Math.abs(s.slopeMiBPerMin) < 0.1, `slope ${s.slopeMiBPerMin}`);
});
