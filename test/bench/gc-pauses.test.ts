import t from 'tap';
import { GcPauses } from '../../scripts/bench/gc-pauses.ts';

/** Short-lived garbage enough for several young-generation collections. */
const ring: unknown[] = new Array(1024);
function churn(): void {
  for (let i = 0; i < 2_000_000; i++) ring[i & 1023] = { i, list: [i, i + 1] };
}

t.test('counts the GCs of its window only, with none left undelivered at stop()', async (t) => {
  const gc = new GcPauses();
  t.teardown(() => gc.close());
  churn();
  gc.start();
  t.equal(gc.scavenges, 0, 'start() zeroes the counts');
  churn();
  await gc.stop();
  const scavenges = gc.scavenges;
  t.ok(scavenges >= 1, `scavenges in the window: ${scavenges}`);
  t.ok(gc.pauseMs > 0);
  churn();
  await new Promise((r) => setTimeout(r, 20)); // let any delivery happen
  t.equal(gc.scavenges, scavenges, 'GCs after stop() do not count');
});
