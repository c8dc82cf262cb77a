// Parked watchRoutes long polls: each waits for the next route change or its own waitMs, then is
// answered once. Bounded: beyond `max` parked at once a watch is refused (the caller answers it
// at once, so the client simply polls). A closed connection's watches are forgotten at once.
import type { ServerConnection } from '../net/index.ts';

interface Parked {
  readonly conn: ServerConnection;
  readonly answer: () => void;
  readonly timer: NodeJS.Timeout;
}

export class RouteWatches {
  private readonly parked = new Set<Parked>();
  /** Each connection's parked watches, to drop them when it closes (one close listener each). */
  private readonly byConn = new Map<ServerConnection, Set<Parked>>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.parked.size;
  }

  /** Parks a watch answered by `answer` after `waitMs` or at the next wake; false when full. */
  park(conn: ServerConnection, waitMs: number, answer: () => void): boolean {
    if (this.parked.size >= this.max || conn.closed) return false;
    const p: Parked = { conn, answer, timer: setTimeout(() => this.settle(p), waitMs) };
    this.parked.add(p);
    let mine = this.byConn.get(conn);
    if (mine === undefined) {
      mine = new Set();
      this.byConn.set(conn, mine);
      conn.onClose(() => this.forget(conn));
    }
    mine.add(p);
    return true;
  }

  /** Answers every parked watch now (a route change, or the server closing). */
  wakeAll(): void {
    for (const p of [...this.parked]) this.settle(p);
  }

  private settle(p: Parked): void {
    if (!this.parked.delete(p)) return;
    clearTimeout(p.timer);
    this.byConn.get(p.conn)?.delete(p);
    if (!p.conn.closed) p.answer();
  }

  private forget(conn: ServerConnection): void {
    for (const p of this.byConn.get(conn) ?? []) {
      clearTimeout(p.timer);
      this.parked.delete(p);
    }
    this.byConn.delete(conn);
  }
}
