import t from 'tap';
import { crc32 } from 'node:zlib';

t.test('the toolchain runs TypeScript tests and zlib.crc32 exists', async (t) => {
  t.equal(typeof crc32, 'function');
  t.equal(crc32(Buffer.from('hello')), 907060870);
});
