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

t.test('a series that starts after the first minute ignores the warm-up ramp, and keeps each minute\'s median', async (t) => {
  const all = new RssSeries();
  const settled = new RssSeries(60);
  for (let sec = 0; sec <= 300; sec++) {
    // 100 MiB climbing to 200 in the first minute, then flat with noise.
    const mib = sec < 60 ? 100 + (sec * 100) / 60 : 200 + (sec % 7) - 3;
    all.add(sec, mib);
    settled.add(sec, mib);
  }
  t.ok(all.slopeMiBPerMin > 10, `the whole window shows the ramp: ${all.slopeMiBPerMin}`);
  t.ok(Math.abs(settled.slopeMiBPerMin) < 0.2, `from minute 1 on it is flat: ${settled.slopeMiBPerMin}`);
  t.equal(settled.first, 200 + (60 % 7) - 3);
  t.same(settled.minuteMedians, [200, 200, 200, 200], 'four whole minutes after the first (the last sample starts a fifth)');
  t.equal(all.minuteMedians.length, 5);
  t.ok(all.minuteMedians[0]! < 200, 'the first minute of the whole window is the ramp');
});
