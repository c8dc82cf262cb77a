// Last-resort cleanup of what a chaos run made (node processes, namespaces, links, rules): run
// synchronously on process exit, on SIGINT/SIGTERM and after an uncaught exception, so an
// interrupted run leaves nothing behind. A normal run cleans up itself and unregisters.

type SyncCleanup = () => void;

const cleanups = new Map<number, SyncCleanup>();
let nextId = 1;
let installed = false;

function runAll(): void {
  // Newest first: processes (registered after the network) go before their namespaces.
  const ids = [...cleanups.keys()].sort((a, b) => b - a);
  for (const id of ids) {
    const fn = cleanups.get(id);
    cleanups.delete(id);
    try {
      fn?.();
    } catch {
      // best effort: one failed step must not stop the others
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`chaos: ${signal}: cleaning up\n`);
      runAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Registers a synchronous cleanup; returns the function that unregisters it. */
export function onExitCleanup(fn: SyncCleanup): () => void {
  install();
  const id = nextId++;
  cleanups.set(id, fn);
  return () => {
    cleanups.delete(id);
  };
}
