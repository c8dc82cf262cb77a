#!/usr/bin/env -S node --max-semi-space-size=32 --min-semi-space-size=16 --initial-old-space-size=128
// The V8 heap flags are src/cli/cluster.ts's REPLICA_V8_FLAGS (why: see there); harmless for
// the short-lived commands.
// The raftmq command: runs the TypeScript CLI through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
