// ClusterClient.onMasterChange: told each newly known master (not a repeat, not "unknown"), until
// unsubscribed. The push consumer's pulls parked at a replaced master follow it this way.
import t from 'tap';
import { ClusterClient } from '../../src/client/index.ts';

t.test('onMasterChange tells each newly known master once, until unsubscribed', async (t) => {
  const client = new ClusterClient({ servers: ['127.0.0.1:1', '127.0.0.1:2'] });
  t.teardown(() => client.close());
  const told: string[] = [];
  const stop = client.onMasterChange((addr) => told.push(addr));
  client.learnMaster('127.0.0.1:1', 3);
  client.learnMaster('127.0.0.1:1', 3);
  t.strictSame(told, ['127.0.0.1:1'], 'a repeat is not told');
  client.markSuspect('127.0.0.1:1');
  t.equal(client.master, null);
  t.strictSame(told, ['127.0.0.1:1'], 'a master becoming unknown is not told');
  client.learnMaster('127.0.0.1:2', 4);
  t.strictSame(told, ['127.0.0.1:1', '127.0.0.1:2']);
  stop();
  client.learnMaster('127.0.0.1:1', 5);
  t.strictSame(told, ['127.0.0.1:1', '127.0.0.1:2'], 'nothing after unsubscribing');
});
