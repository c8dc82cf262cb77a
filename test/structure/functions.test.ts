// Functions stay short enough to read at once in the layers every feature touches: src/raft,
// src/commitlog and src/broker. A function is found by its declaration line (a function, a
// method, an arrow function assigned to a name) and ends at the closing brace at its indentation.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FOLDERS = ['src/raft', 'src/commitlog', 'src/broker'];
export const FUNCTION_LINES_MAX = 70;

/** Where a function starts: its name and '(' (the parameters may go on over several lines). */
const DECLARATION = [
  /^(\s*)(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*([A-Za-z0-9_$]+)\s*(?:<[^>]*>)?\(/,
  /^(\s*)(?:(?:public|private|protected|static|async|override|readonly|get|set)\s+)*\*?([A-Za-z0-9_$]+)\s*(?:<[^>]*>)?\((?!.*;\s*$)/,
  /^(\s*)(?:export\s+)?(?:const|let)\s+([A-Za-z0-9_$]+)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:\(|[A-Za-z0-9_$]+\s*=>)/,
];
const NOT_A_NAME = new Set(['if', 'for', 'while', 'switch', 'catch', 'return', 'else', 'do', 'try', 'super', 'await', 'new', 'throw', 'typeof']);
/** Lines a signature may take before its body's '{'. */
const SIGNATURE_LINES_MAX = 12;

export interface LongFunction {
  readonly file: string;
  readonly name: string;
  readonly line: number;
  readonly lines: number;
}

/** Functions of `text` longer than `max` lines (declaration to closing brace). */
export function longFunctions(file: string, text: string, max: number): LongFunction[] {
  const lines = text.split('\n');
  const out: LongFunction[] = [];
  for (let i = 0; i < lines.length; i++) {
    let m: RegExpExecArray | null = null;
    for (const re of DECLARATION) if ((m = re.exec(lines[i]!)) !== null) break;
    if (m === null || NOT_A_NAME.has(m[2]!)) continue;
    const indent = m[1]!;
    // The body opens on the declaration line or on a later line at its indent ("): T {").
    let open = i;
    while (open < lines.length && open - i < SIGNATURE_LINES_MAX && !/[{]\s*$/.test(lines[open]!)) open++;
    if (open >= lines.length || open - i >= SIGNATURE_LINES_MAX || (open > i && !lines[open]!.startsWith(`${indent})`))) continue;
    if (!/=>\s*\{\s*$|\)\s*(?::\s*.+)?\{\s*$/.test(lines[open]!)) continue;
    let end = open + 1;
    while (end < lines.length && !(lines[end]!.startsWith(indent) && lines[end]![indent.length] === '}')) end++;
    const count = end - i + 1;
    if (end < lines.length && count > max) out.push({ file, name: m[2]!, line: i + 1, lines: count });
  }
  return out;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

t.test('the scanner finds a long function and measures a short one', async (t) => {
  const body = (n: number) => Array.from({ length: n }, (_, i) => `    x${i}();`).join('\n');
  const text = `export function long(a: number): void {\n${body(80)}\n}\n\nclass C {\n  private short(): number {\n${body(5)}\n    return 1;\n  }\n  async method(\n    a: string,\n  ): Promise<void> {\n${body(75)}\n  }\n}\n`;
  t.same(longFunctions('x.ts', text, FUNCTION_LINES_MAX).map((f) => [f.name, f.lines]), [['long', 82], ['method', 79]]);
});

t.test(`no function over ${FUNCTION_LINES_MAX} lines in ${FOLDERS.join(', ')}`, async (t) => {
  const found: LongFunction[] = [];
  for (const folder of FOLDERS) {
    for (const file of filesUnder(path.join(ROOT, folder))) found.push(...longFunctions(path.relative(ROOT, file), fs.readFileSync(file, 'utf8'), FUNCTION_LINES_MAX));
  }
  t.same(found.map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`), []);
});
