// The README is a user's document that must stay true: its layout table names every folder under
// src, the configuration table (docs/configuration.md) every broker.conf key (and no other), and
// it stays short.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CONFIG_KEYS } from '../../src/broker/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const CONFIGURATION = fs.readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');
const README_LINES_MAX = 200;

t.test('the layout table lists every folder under src, and no folder that is gone', async (t) => {
  const folders = fs.readdirSync(path.join(ROOT, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `src/${d.name}`);
  const listed = [...README.matchAll(/^\| `(src\/[a-z0-9-]+)` \|/gm)].map((m) => m[1]!);
  t.same([...listed].sort(), [...folders].sort());
});

t.test('the configuration table lists every broker.conf key with its default', async (t) => {
  const section = CONFIGURATION;
  t.ok(README.includes('(docs/configuration.md)'), 'the README links to it');
  const rows = new Map([...section.matchAll(/^\| `([A-Za-z0-9]+)` \| ([^|]*) \| (.*) \|$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
  const meanings = new Map([...section.matchAll(/^\| `([A-Za-z0-9]+)` \| [^|]* \| (.*) \|$/gm)].map((m) => [m[1]!, m[2]!.replace(/\\\|/g, '|')]));
  for (const k of CONFIG_KEYS) {
    t.ok(rows.has(k.key), `${k.key} is in docs/configuration.md`);
    if (rows.has(k.key)) t.equal(rows.get(k.key)!.replace(/`/g, ''), k.default || '(empty)', `${k.key}: the table's default is the code's`);
    if (meanings.has(k.key)) t.equal(meanings.get(k.key), k.description, `${k.key}: the table says what --help says`);
  }
  const known = new Set(CONFIG_KEYS.map((k) => k.key as string));
  t.same([...rows.keys()].filter((k) => !known.has(k)), [], 'and no key that does not exist');
});

t.test(`the README stays under ${README_LINES_MAX} lines (figures and their history go to docs/performance.md)`, async (t) => {
  t.ok(README.split('\n').length <= README_LINES_MAX, `${README.split('\n').length} lines`);
});
