// Bounds how many handler calls run at once (RocketMQ's consumeThreadMax).
export class Semaphore {
  private running = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  /** Resolves when a slot is free (waiters in arrival order). */
  acquire(): Promise<void> {
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next();
    else this.running--;
  }

  /** Calls running now. */
  get active(): number {
    return this.running;
  }
}
