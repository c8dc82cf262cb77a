// The progress bar of long CLI work: drawn only on a terminal, with the work's own lines above it.
import { Writable } from 'node:stream';
import t from 'tap';
import { startProgress } from '../../src/cli/index.ts';

/** A stream that records what is written, a terminal or not. */
function sink(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  Object.assign(w, { isTTY, columns: 120, rows: 40, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  return { stream: w as unknown as NodeJS.WriteStream, text: () => text };
}

t.test('not a terminal: no bar, the lines as they are', async (t) => {
  const err = sink(false);
  const bar = startProgress({ total: 10, unit: 's', stream: err.stream });
  bar.update(3, 'acked 42');
  bar.log('a line');
  bar.stop();
  t.equal(err.text(), 'a line\n');
});

t.test('a terminal: a bar with the total, the rate and the note; lines go above it', async (t) => {
  const err = sink(true);
  const out = sink(false);
  const bar = startProgress({ total: 10, unit: 's', stream: err.stream });
  bar.update(3, 'acked 42');
  bar.log('a line');
  bar.log('{"result":1}', out.stream);
  bar.stop();
  bar.log('after the bar');
  const text = err.text();
  t.match(text, /3\/10 s/, 'value and total');
  t.match(text, /acked 42/, 'the note');
  t.match(text, /ETA/, 'the time left');
  t.match(text, /\r\x1b\[2Ka line\n/, 'a line clears the bar first');
  t.equal(out.text(), '{"result":1}\n', 'a result goes to its own stream');
  t.ok(text.endsWith('after the bar\n'), 'after stop, plain lines');
});

t.test('the rate shows unless turned off (work counted in seconds)', async (t) => {
  const msgs = sink(true);
  const a = startProgress({ total: 100, unit: 'msgs', stream: msgs.stream });
  a.update(50);
  a.stop();
  t.match(msgs.text(), /msgs\/s/);
  const secs = sink(true);
  const b = startProgress({ total: 100, unit: 's', rate: false, stream: secs.stream });
  b.update(50);
  b.stop();
  t.notMatch(secs.text(), /s\/s/);
});
