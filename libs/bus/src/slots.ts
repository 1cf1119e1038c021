/** Bounds the handlers running at once in one process (`concurrency`). */
export class Slots {
  private running = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly size: number) {}

  get inUse(): number {
    return this.running;
  }

  /**
   * Resolves when a slot is free. `whileWaiting` runs every `everyMs` until then: the caller tells the server
   * the event it holds is being worked on, so its ack_wait does not run out in this process's buffer.
   */
  acquire(whileWaiting: () => void, everyMs: number): Promise<void> {
    if (this.running < this.size) {
      this.running++;
      return Promise.resolve();
    }
    const timer = setInterval(whileWaiting, everyMs);
    return new Promise((resolve) => {
      this.waiters.push(() => {
        clearInterval(timer);
        this.running++;
        resolve();
      });
    });
  }

  release(): void {
    this.running--;
    this.waiters.shift()?.();
  }
}
