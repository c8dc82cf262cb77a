// Shared helpers of the commitlog tests: temp dirs, deterministic bodies, record checks.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LogRecord } from '../../src/commitlog/index.ts';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `raftmq-${prefix}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Deterministic body for (index, salt): checkable byte for byte after a crash. */
export function body(index: number, size: number, salt = 0): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (Math.imul(index, 2654435761) ^ Math.imul(salt + 1, 40503)) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export function recordsFrom(first: number, count: number, term: number, size: (index: number) => number, salt = 0): LogRecord[] {
  const out: LogRecord[] = [];
  for (let i = first; i < first + count; i++) out.push({ index: i, term, type: 0, data: body(i, size(i), salt) });
  return out;
}

export function sameRecord(a: LogRecord, b: LogRecord): boolean {
  return a.index === b.index && a.term === b.term && a.type === b.type && Buffer.from(a.data).equals(Buffer.from(b.data));
}

export interface LogLine {
  level: string;
  msg: string;
  fields?: object;
}

export function collectLog(): { lines: LogLine[]; log: (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void } {
  const lines: LogLine[] = [];
  return { lines, log: (level, msg, fields) => lines.push({ level, msg, fields }) };
}

export function dataFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(dir, 'data'))
    .filter((n) => /^\d{20}$/.test(n))
    .sort()
    .map((n) => path.join(dir, 'data', n));
}

export function indexFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(dir, 'index'))
    .filter((n) => /^\d{20}$/.test(n))
    .sort()
    .map((n) => path.join(dir, 'index', n));
}
