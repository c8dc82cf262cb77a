// The folder structure holds: every .ts file under src, scripts and test is read and its relative
// imports checked (rules in import-graph.ts). Each check also runs on a small made-up tree that
// breaks it, so a check that can no longer fail fails here.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cycles, folderEdges, folderOf, importsOf, indexBypasses, layerViolations, oversized, treeOf, type Import } from './import-graph.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * src files allowed over the line limit, each at most the lines it has now. None now; a file
 * being split in parallel may be listed while it is, and the test fails once it is under the limit.
 */
const LINES_MAX_ALLOWLIST: Readonly<Record<string, number>> = {
};

function readTree(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts')) files.set(rel, fs.readFileSync(path.join(ROOT, rel), 'utf8'));
    }
  };
  for (const top of ['src', 'scripts', 'test']) walk(top);
  return files;
}

function allImports(files: ReadonlyMap<string, string>): Import[] {
  return [...files].flatMap(([file, source]) => importsOf(file, source));
}

const tree = readTree();
const imports = allImports(tree);

t.test('the tree was read', async (t) => {
  t.ok(tree.has('src/raft/core.ts') && tree.has('scripts/bench.ts') && tree.has('test/structure/imports.test.ts'));
  t.ok(imports.length > 300, `${imports.length} relative imports found`);
  t.strictSame(imports.filter((i) => !tree.has(i.to)).map((i) => `${i.from}: ${i.specifier}`), [], 'every relative import names a file that exists');
});

t.test('another src folder is imported only through its index.ts', async (t) => {
  t.strictSame(indexBypasses(imports), []);
});

t.test('folders do not import each other in a cycle', async (t) => {
  t.strictSame(cycles(folderEdges(imports)), [], 'src folders and every directory of scripts and test');
  t.strictSame(cycles(folderEdges(imports, (f) => treeOf(folderOf(f)))), [], 'scripts/** and test/** as one node each');
});

t.test('src folders import only what lies below them', async (t) => {
  t.strictSame(layerViolations(imports), []);
});

t.test(`no file in src is over the line limit (allowlist: ${Object.keys(LINES_MAX_ALLOWLIST).join(', ')})`, async (t) => {
  t.strictSame(oversized(tree, LINES_MAX_ALLOWLIST), []);
});

t.test('each check fails on a tree that breaks it', async (t) => {
  const fake = (files: Record<string, string>): Import[] => allImports(new Map(Object.entries(files)));
  const bypass = fake({ 'src/net/a.ts': "import { X } from '../broker/protocol.ts';\n", 'src/broker/protocol.ts': '' });
  t.strictSame(indexBypasses(bypass), ['src/net/a.ts imports ../broker/protocol.ts: import src/broker/index.ts instead']);
  t.match(indexBypasses(fake({ 'src/net/a.ts': "import { X } from './index.ts';\n" })), [/its own folder's index/]);
  t.strictSame(indexBypasses(fake({ 'test/net/a.test.ts': "import { X } from '../../src/net/index.ts';\nimport t from 'tap';\n" })), []);

  const cyclic = fake({
    'src/net/a.ts': "import type { X } from '../broker/index.ts';\n",
    'src/broker/b.ts': "export { Y } from '../net/index.ts';\n",
  });
  t.strictSame(cycles(folderEdges(cyclic)), [
    'src/broker, src/net import each other: src/broker -> src/net (src/broker/b.ts imports ../net/index.ts); src/net -> src/broker (src/net/a.ts imports ../broker/index.ts)',
  ]);
  const acrossTrees = fake({ 'scripts/bench/run.ts': "import { L } from '../../test/helpers/launcher.ts';\n", 'test/bench/run.test.ts': "import { run } from '../../scripts/bench/run.ts';\n" });
  t.strictSame(cycles(folderEdges(acrossTrees)), [], 'no cycle between the directories themselves');
  t.match(cycles(folderEdges(acrossTrees, (f) => treeOf(folderOf(f)))), [/^scripts, test import each other/], 'but scripts and test import each other');

  const upward = fake({
    'src/raft/a.ts': "import { x } from '../net/index.ts';\n",
    'src/commitlog/b.ts': "import { y } from '../broker/index.ts';\n",
    'src/client/c.ts': "const m = await import('../broker/index.ts');\n",
    'src/util/d.ts': "// import('../raft/index.ts') in a comment is not an import\n",
  });
  const layers = layerViolations(upward);
  t.equal(layers.length, 3, 'the import in a comment does not count');
  t.match(layers, [/^src\/client imports src\/broker/, /^src\/commitlog imports src\/broker/, /^src\/raft imports src\/net/]);

  const big = new Map([['src/a.ts', 'x\n'.repeat(601)], ['src/b.ts', 'x\n'.repeat(600)], ['src/c.ts', 'x\n'.repeat(10)]]);
  t.strictSame(oversized(big, { 'src/c.ts': 700, 'src/gone.ts': 900 }), [
    'src/a.ts has 601 lines, more than 600: split it',
    'src/c.ts has 10 lines now: remove it from the allowlist',
    'src/gone.ts is gone: remove it from the allowlist',
  ]);
});
