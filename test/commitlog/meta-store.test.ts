import path from 'node:path';
import t from 'tap';
import { openMetaStore } from '../../src/commitlog/index.ts';
import { removeDir, tempDir } from './helpers.ts';

t.test('the hard state and generic keys survive a reopen', async (t) => {
  const dir = tempDir('meta');
  t.teardown(() => removeDir(dir));
  const file = path.join(dir, 'meta');
  let meta = await openMetaStore(file);
  t.same(meta.getHardState(), { term: 0, vote: '', commit: 0, recovering: true }, 'a store that never recorded a hard state may be a replaced disk: recovering');
  await meta.setHardState({ term: 7, vote: 'n2', commit: 41 });
  t.same(meta.getHardState(), { term: 7, vote: 'n2', commit: 41 });
  await meta.put('broker/applied', Uint8Array.of(1, 2, 3));
  t.equal(await meta.get('missing'), undefined);
  await t.rejects(meta.setHardState({ term: -1, vote: '', commit: 0 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(meta.put('raft/hardState', Uint8Array.of(1)), { code: 'INVALID_ARGUMENT' });
  await t.rejects(openMetaStore(file), { code: 'STORE_LOCKED' });
  await meta.close();
  await t.rejects(meta.put('x', Uint8Array.of(1)), { code: 'STORE_CLOSED' });
  meta = await openMetaStore(file);
  t.same(meta.getHardState(), { term: 7, vote: 'n2', commit: 41 });
  t.same(Buffer.from((await meta.get('broker/applied')) as Uint8Array), Buffer.from([1, 2, 3]));
  await meta.close();
});

t.test('the recovering flag is kept until a hard state without it is written', async (t) => {
  const dir = tempDir('meta');
  t.teardown(() => removeDir(dir));
  const file = path.join(dir, 'meta');
  let meta = await openMetaStore(file);
  await meta.setHardState({ term: 2, vote: 'n1', commit: 0, recovering: true });
  await meta.close();
  meta = await openMetaStore(file);
  t.same(meta.getHardState(), { term: 2, vote: 'n1', commit: 0, recovering: true }, 'kept across a reopen');
  await meta.setHardState({ term: 2, vote: 'n1', commit: 5 });
  await meta.close();
  meta = await openMetaStore(file);
  t.same(meta.getHardState(), { term: 2, vote: 'n1', commit: 5 }, 'cleared for good');
  await t.rejects(meta.setHardState({ term: 2, vote: 'n1', commit: 5, recovering: 'yes' as unknown as boolean }), { code: 'INVALID_ARGUMENT' });
  await meta.close();
});
