import t from 'tap';
import { brokerConfFrom } from '../../scripts/bench/broker-conf.ts';
import { UsageError } from '../../src/cli/index.ts';

t.test('--set takes broker.conf keys, checked as broker.conf checks them', async (t) => {
  t.same(brokerConfFrom(undefined), {});
  t.same(brokerConfFrom('directIoEnable=false, crcOffloadMinBytes = 65536'), { directIoEnable: 'false', crcOffloadMinBytes: '65536' });
  t.throws(() => brokerConfFrom('nosuchKey=1'), UsageError, 'an unknown key');
  t.throws(() => brokerConfFrom('tickMs=0'), { message: /tickMs "0" is not valid/ }, 'a bad value, named');
  t.throws(() => brokerConfFrom('directIoEnable'), { message: /expected KEY=VALUE/ });
  t.throws(() => brokerConfFrom('flushDiskType=ASYNC_FLUSH'), { message: /use --flush/ }, 'a key the bench sets itself');
  t.throws(() => brokerConfFrom('listenPort=1'), { message: /set by the bench/ });
  t.throws(() => brokerConfFrom('tickMs=5,tickMs=6'), { message: /given twice/ });
});
