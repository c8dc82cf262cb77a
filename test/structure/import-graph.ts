// The project's folder rules as pure checks over a set of files (path -> source text), so the test
// can run them on the real tree and on small made-up trees that must fail.
//
// A folder is a first-level folder of src (src/raft, src/net, ...; files directly in src/ are the
// folder `src`), or any directory under scripts/ and test/ (scripts, scripts/bench, test/raft, ...).
// Imports are the relative specifiers of `import ... from`, `export ... from`, `import '...'` and
// `import('...')` at the start of a line of code; package imports ('tap', 'node:fs') are ignored.
import path from 'node:path';

/** Lines a file under src may have (TigerStyle: put a limit on everything). */
export const SRC_FILE_LINES_MAX = 600;

export interface Import {
  /** The importing file, relative to the project root with `/` separators. */
  readonly from: string;
  /** The imported file, resolved the same way. */
  readonly to: string;
  readonly specifier: string;
}

export interface FolderEdge {
  readonly from: string;
  readonly to: string;
  /** One import that makes the edge, for the message. */
  readonly via: Import;
}

/** Which src folders a src folder may import (besides itself); a folder not listed may import any. */
export const SRC_FOLDER_RULES: Readonly<Record<string, { readonly only?: readonly string[]; readonly not?: readonly string[]; readonly why: string }>> = {
  'src/util': { only: [], why: 'the bottom of the tree: everyone imports it' },
  'src/raft': { only: ['src/util'], why: 'the Raft core is pure: no I/O, no broker, no wire' },
  'src/protocol': { only: ['src/util', 'src/raft'], why: 'the wire is below net, broker and client, which all import it' },
  'src/metrics': { only: ['src/util'], why: 'the metrics registry and exporter are below every component that defines metrics' },
  'src/dashboard': { only: ['src/util', 'src/protocol', 'src/client', 'src/metrics'], why: 'the dashboard reads the same admin and metrics endpoints a script would' },
  'src/commitlog': { not: ['src/broker', 'src/net', 'src/client', 'src/cli', 'src/chaos'], why: 'the commitlog is storage under the broker' },
  'src/client': { not: ['src/broker', 'src/commitlog', 'src/cli', 'src/chaos'], why: 'the client depends on the wire, not on server internals' },
};

const IMPORT_RE = /^[ \t]*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]|^[ \t]*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** The relative imports of one file. */
export function importsOf(file: string, source: string): Import[] {
  const out: Import[] = [];
  for (const m of source.matchAll(IMPORT_RE)) {
    const specifier = m[1] ?? m[2] ?? m[3]!;
    if (!specifier.startsWith('.')) continue;
    // A dynamic import in a comment or a string (a test's made-up source) is not code.
    const lineStart = source.lastIndexOf('\n', m.index) + 1;
    if (m[3] !== undefined && inCommentOrString(source.slice(lineStart, m.index))) continue;
    out.push({ from: file, to: path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)), specifier });
  }
  return out;
}

/** Whether the end of `line` (the text before a match on its line) is in a comment or a string.
 *  One line only: a template literal or block comment opened on an earlier line is missed. */
function inCommentOrString(line: string): boolean {
  if (/^\s*\*/.test(line)) return true;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote !== '') {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === "'" || c === '"' || c === '`') {
      quote = c;
    } else if (c === '/' && (line[i + 1] === '/' || line[i + 1] === '*')) {
      return true;
    }
  }
  return quote !== '';
}

/** The folder a file belongs to (see the header). */
export function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'src') return parts.length > 2 ? `src/${parts[1]}` : 'src';
  return path.posix.dirname(file);
}

/** The coarser node of a folder for the second cycle check: scripts/** and test/** each count as one. */
export function treeOf(folder: string): string {
  const top = folder.split('/')[0]!;
  return top === 'scripts' || top === 'test' ? top : folder;
}

/** Rule 1: another src folder is imported through its index.ts; a file never imports its own folder's index.ts. */
export function indexBypasses(imports: readonly Import[]): string[] {
  const out: string[] = [];
  for (const imp of imports) {
    if (!imp.to.startsWith('src/')) continue;
    const target = folderOf(imp.to);
    if (target === 'src') continue;
    const isIndex = imp.to === `${target}/index.ts`;
    if (folderOf(imp.from) === target) {
      if (isIndex && !imp.from.endsWith('/index.ts')) out.push(`${imp.from} imports its own folder's index (${imp.specifier}): inside a folder, import the file`);
    } else if (!isIndex) {
      out.push(`${imp.from} imports ${imp.specifier}: import ${target}/index.ts instead`);
    }
  }
  return out;
}

export function folderEdges(imports: readonly Import[], nodeOf: (file: string) => string = folderOf): FolderEdge[] {
  const edges = new Map<string, FolderEdge>();
  for (const imp of imports) {
    const from = nodeOf(imp.from);
    const to = nodeOf(imp.to);
    if (from === to) continue;
    const key = `${from}\u0000${to}`;
    if (!edges.has(key)) edges.set(key, { from, to, via: imp });
  }
  return [...edges.values()].sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}

/** Rule 2: every group of folders that import each other in a cycle (Tarjan's strongly connected
 *  components), each described by its edges. */
export function cycles(edges: readonly FolderEdge[]): string[] {
  const out = new Map<string, FolderEdge[]>();
  for (const e of edges) (out.get(e.from) ?? out.set(e.from, []).get(e.from)!).push(e);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const e of out.get(v) ?? []) {
      if (!index.has(e.to)) {
        visit(e.to);
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!));
      } else if (onStack.has(e.to)) {
        low.set(v, Math.min(low.get(v)!, index.get(e.to)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set<string>();
    for (;;) {
      const w = stack.pop()!;
      onStack.delete(w);
      component.add(w);
      if (w === v) break;
    }
    if (component.size < 2) return;
    const inside = edges.filter((e) => component.has(e.from) && component.has(e.to));
    found.push(`${[...component].sort().join(', ')} import each other: ` + inside.map((e) => `${e.from} -> ${e.to} (${e.via.from} imports ${e.via.specifier})`).join('; '));
  };
  for (const v of [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** Rule 3: the layering of src folders (SRC_FOLDER_RULES), and src importing neither scripts nor test. */
export function layerViolations(imports: readonly Import[]): string[] {
  const out: string[] = [];
  for (const e of folderEdges(imports)) {
    if (!e.from.startsWith('src')) continue;
    if (!e.to.startsWith('src/')) {
      out.push(`${e.from} imports ${e.to} (${e.via.from} imports ${e.via.specifier}): src never imports scripts or tests`);
      continue;
    }
    const rule = SRC_FOLDER_RULES[e.from];
    if (rule === undefined) continue;
    const allowed = rule.only === undefined ? !rule.not!.includes(e.to) : rule.only.includes(e.to);
    if (!allowed) out.push(`${e.from} imports ${e.to} (${e.via.from} imports ${e.via.specifier}): ${rule.why}`);
  }
  return out;
}

/** Rule 4: src files over SRC_FILE_LINES_MAX lines, except those allowed (each at most the lines
 *  it is allowed); an allowed file that is gone or back under the limit must leave the list. */
export function oversized(files: ReadonlyMap<string, string>, allowed: Readonly<Record<string, number>>): string[] {
  const out: string[] = [];
  for (const [file, source] of files) {
    if (!file.startsWith('src/')) continue;
    const lines = source.split('\n').length - (source.endsWith('\n') ? 1 : 0);
    const cap = allowed[file];
    if (cap === undefined && lines > SRC_FILE_LINES_MAX) out.push(`${file} has ${lines} lines, more than ${SRC_FILE_LINES_MAX}: split it`);
    else if (cap !== undefined && lines > cap) out.push(`${file} has ${lines} lines, more than the ${cap} it is allowed while it is being split: it may only shrink`);
    else if (cap !== undefined && lines <= SRC_FILE_LINES_MAX) out.push(`${file} has ${lines} lines now: remove it from the allowlist`);
  }
  for (const file of Object.keys(allowed)) if (!files.has(file)) out.push(`${file} is gone: remove it from the allowlist`);
  return out;
}
