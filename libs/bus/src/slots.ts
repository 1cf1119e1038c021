interface Waiter {
  readonly need: number;
  readonly grant: () => void;
}

/**
 * Bounds the handlers running at once in one process (`concurrency`). An exclusive holder takes every slot:
 * it starts once the others have finished and nothing starts beside it. Waiters are served in arrival order.
 */
export class Slots {
  private taken = 0;
  private holders = 0;
  private readonly waiters: Waiter[] = [];

  private readonly size: number;

  constructor(size: number) {
    this.size = size;
  }

  /** Handlers holding a slot. */
  get inUse(): number {
    return this.holders;
  }

  /**
   * Resolves with the release function once the slot (or, `exclusive`, every slot) is ours. `whileWaiting`
   * runs every `everyMs` until then: the caller tells the server the event it holds is being worked on, so
   * its ack_wait does not run out in this process's buffer.
   */
  acquire(whileWaiting: () => void, everyMs: number, exclusive = false): Promise<() => void> {
    const need = exclusive ? this.size : 1;
    if (this.waiters.length === 0 && this.taken + need <= this.size) return Promise.resolve(this.take(need));
    const timer = setInterval(whileWaiting, everyMs);
    return new Promise((resolve) => {
      this.waiters.push({
        need,
        grant: () => {
          clearInterval(timer);
          resolve(this.take(need));
        },
      });
    });
  }

  private take(need: number): () => void {
    this.taken += need;
    this.holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.taken -= need;
      this.holders--;
      for (let next = this.waiters[0]; next && this.taken + next.need <= this.size; next = this.waiters[0]) {
        this.waiters.shift();
        next.grant();
      }
    };
  }
}
