// The environment replicas are started with (src/cli/cluster.ts replicaEnv).
import t from 'tap';
import { replicaEnv } from '../../src/cli/index.ts';

t.test('replicas get MALLOC_ARENA_MAX=2 and a fixed mmap threshold unless the caller chose a value; the rest of the environment is kept', async (t) => {
  t.same(replicaEnv({ PATH: '/bin' }), { PATH: '/bin', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
  t.same(replicaEnv({ PATH: '/bin', MALLOC_ARENA_MAX: '8' }), { PATH: '/bin', MALLOC_ARENA_MAX: '8', MALLOC_MMAP_THRESHOLD_: '131072' });
  t.same(replicaEnv({ MALLOC_MMAP_THRESHOLD_: '65536' }), { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' });
});
