#!/usr/bin/env -S node --max-semi-space-size=32 --min-semi-space-size=16 --initial-old-space-size=128
// The V8 heap flags are src/cli/cluster.ts's REPLICA_V8_FLAGS (why: see there); harmless for
// the short-lived commands.
// The raftmq command. The npm package runs its built JavaScript (dist/, `npm run build`); a
// checkout, which has the TypeScript sources, runs those through tsx's loader (a devDependency),
// so that there a stale build never answers.
import fs from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (fs.existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
