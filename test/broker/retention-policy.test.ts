// The master's retention decisions: marks every segment, cuts at expired marks at the deleteWhen
// hours or when the disk is filling, the oldest marks forcibly when it is nearly full.
import t from 'tap';
import { decideRetention, type RetentionInputs, type RetentionSettings } from '../../src/broker/index.ts';

const HOUR = 3_600_000;
const S: RetentionSettings = { fileReservedMs: 72 * HOUR, deleteWhen: [4], diskMaxUsedSpaceRatio: 75, diskSpaceCleanForciblyRatio: 85, markIntervalBytes: 1000, markCountMax: 3 };
const NOW = 1000 * HOUR;
const marks = [
  { index: 10, atMs: NOW - 100 * HOUR },
  { index: 20, atMs: NOW - 80 * HOUR },
  { index: 30, atMs: NOW - 10 * HOUR },
];
// 100 bytes of log per index up to 38: less than a segment after the last mark (30).
const base: RetentionInputs = { nowMs: NOW, hour: 12, marks, bytesAfter: (i) => (38 - i) * 100, cutIndex: 0, diskUsedPercent: 10 };

t.test('a mark once a segment of log followed the last one, while there is room for marks', async (t) => {
  t.equal(decideRetention(S, { ...base, marks: [], cutIndex: 35 }), null, '300 bytes after the cut');
  t.same(decideRetention(S, { ...base, marks: [], cutIndex: 28 }), { cutAt: 0, why: 'mark' }, '1000 bytes after the cut');
  t.equal(decideRetention(S, { ...base, bytesAfter: (i) => (45 - i) * 100 }), null, 'three marks are the most');
  t.same(decideRetention(S, { ...base, marks: marks.slice(1), bytesAfter: (i) => (45 - i) * 100 }), { cutAt: 0, why: 'mark' }, '1500 bytes after mark 30');
});

t.test('expired marks are cut at a deleteWhen hour, or at any hour above diskMaxUsedSpaceRatio', async (t) => {
  t.equal(decideRetention(S, base), null, 'not at noon');
  t.same(decideRetention(S, { ...base, hour: 4 }), { cutAt: 20, why: 'expired' }, 'the newest expired mark');
  t.same(decideRetention(S, { ...base, diskUsedPercent: 75 }), { cutAt: 20, why: 'expired, disk above diskMaxUsedSpaceRatio' });
  t.equal(decideRetention(S, { ...base, hour: 4, marks: marks.slice(2) }), null, 'nothing expired');
  t.same(decideRetention(S, { ...base, hour: 4, cutIndex: 12 }), null, 'cutting at 20 would free 800 bytes, less than a segment');
  t.same(decideRetention(S, { ...base, hour: 4, cutIndex: 5 }), { cutAt: 20, why: 'expired' }, 'from 5 it frees 1500');
});

t.test('above diskSpaceCleanForciblyRatio the oldest mark goes even unexpired, while a segment follows it', async (t) => {
  const fresh = marks.slice(2);
  t.same(decideRetention(S, { ...base, marks: fresh, diskUsedPercent: 90, bytesAfter: (i) => (40 - i) * 100 }), { cutAt: 30, why: 'disk above diskSpaceCleanForciblyRatio' }, 'exactly a segment after mark 30');
  t.same(decideRetention(S, { ...base, marks: fresh, diskUsedPercent: 90, bytesAfter: () => 5000 }), { cutAt: 30, why: 'disk above diskSpaceCleanForciblyRatio' });
  t.equal(decideRetention(S, { ...base, marks: fresh, diskUsedPercent: 90, bytesAfter: () => 999 }), null, 'less than a segment after it: nothing to free');
  t.same(decideRetention(S, { ...base, diskUsedPercent: 90 }), { cutAt: 20, why: 'expired, disk above diskMaxUsedSpaceRatio' }, 'expired ones first');
});
