// The encoding blocks: a block is handed out again only once no chunk uses it.
import t from 'tap';
import { EncodeArena } from '../../src/commitlog/index.ts';

t.test('the current block is rewound only when its chunks are all released', async (t) => {
  const arena = new EncodeArena(1000, 2, () => false);
  const a = arena.reserve(100);
  t.equal(a.used, 100);
  const b = arena.reserve(200);
  t.ok(b === a, 'back to back in one block');
  t.equal(b.used, 300);
  arena.release(a);
  t.equal(arena.reserve(50).used, 350, 'one chunk still lives: no rewind');
  arena.release(a);
  arena.release(a);
  const c = arena.reserve(10);
  t.ok(c === a);
  t.equal(c.used, 10, 'empty: rewound');
  arena.release(c);
  t.throws(() => arena.release(c), /no users/, 'a double release is a bug, not a silent miscount');
});

t.test('a full block is reused only after its chunks are released; oversized blocks are not kept', async (t) => {
  const arena = new EncodeArena(1000, 2, () => false);
  const b1 = arena.reserve(900);
  const b2 = arena.reserve(900); // b1 full: retired with a user
  t.ok(b2 !== b1);
  const b3 = arena.reserve(900); // b1 still used: a new block
  t.ok(b3 !== b1 && b3 !== b2);
  arena.release(b1);
  const b4 = arena.reserve(900);
  t.ok(b4 === b1, 'the released spare comes back');
  t.equal(b4.used, 900, 'from its start');
  const big = arena.reserve(5000);
  t.equal(big.buf.length, 5000, 'a batch larger than a block gets its own');
  arena.release(big);
  const after = arena.reserve(10);
  t.ok(after !== big && after.buf.length === 1000, 'the oversized block is let go');
});

t.test('shared blocks while wanted; a shared block is never reused once sharing stops', async (t) => {
  let shared = true;
  const dropped: Buffer[] = [];
  const arena = new EncodeArena(1000, 2, () => shared, (buf) => dropped.push(buf));
  const s1 = arena.reserve(100);
  t.ok(s1.buf.buffer instanceof SharedArrayBuffer);
  arena.release(s1);
  shared = false;
  const p1 = arena.reserve(100);
  t.notOk(p1.buf.buffer instanceof SharedArrayBuffer, 'plain memory once sharing stops');
  t.same(dropped, [s1.buf], 'the shared block is dropped (the worker may forget it), not kept');
  arena.release(p1);
  shared = true;
  const s2 = arena.reserve(100);
  t.ok(s2 !== s1, 'the old shared block is not handed out again');
});
