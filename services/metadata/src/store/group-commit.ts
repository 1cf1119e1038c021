/**
 * Group commit: requests that arrive while a transaction of their group is in flight (or waiting for a
 * connection) wait together and are written by the next transaction, each answered only after that
 * transaction commits. One commit, one fsync and a few multi-row statements then serve many requests.
 *
 * - At most one transaction per group (a logical shard) runs at a time, so two batches of one shard never
 *   take row locks in opposite orders; `gate` bounds the transactions of groups that share a database to
 *   its pool (more in flight only queue inside the driver, see PITFALLS).
 * - Two requests with the same `conflictKey` (one user's like and unlike of one post) never share a
 *   batch: the later one waits for the next, so each keeps its own outcome, in arrival order.
 * - A batch that fails is written again one request at a time: only the request that fails alone fails,
 *   with its own error; the others are answered as if they had been alone.
 */
export interface GroupCommitOptions<Op, R> {
  /** Writes `ops` in one transaction; one result per op, in order. Throws when the transaction failed. */
  write(group: number, ops: readonly Op[]): Promise<R[]>;
  /** The database a group's transactions use (for `gate`). */
  databaseOf(group: number): string;
  /** Ops with the same key never share a batch. */
  conflictKey(op: Op): string;
  /** Transactions in flight per database (its pool size). */
  perDatabase: number;
  maxBatch: number;
}

interface Waiting<Op, R> {
  op: Op;
  resolve(value: R): void;
  reject(err: unknown): void;
}

/** A counting semaphore whose waiters are served in order. */
class Gate {
  private free: number;
  private readonly queue: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }
  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  }
}

export class GroupCommit<Op, R> {
  private readonly queues = new Map<number, Waiting<Op, R>[]>();
  private readonly running = new Set<number>();
  private readonly gates = new Map<string, Gate>();
  private readonly options: GroupCommitOptions<Op, R>;

  constructor(options: GroupCommitOptions<Op, R>) {
    this.options = options;
  }

  /** Resolves with the op's result once the transaction that wrote it has committed. */
  submit(group: number, op: Op): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queue = this.queues.get(group) ?? [];
      queue.push({ op, resolve, reject });
      this.queues.set(group, queue);
      if (!this.running.has(group)) void this.run(group);
    });
  }

  private gateOf(group: number): Gate {
    const database = this.options.databaseOf(group);
    let gate = this.gates.get(database);
    if (!gate) {
      gate = new Gate(Math.max(1, this.options.perDatabase));
      this.gates.set(database, gate);
    }
    return gate;
  }

  /** Takes up to maxBatch waiting ops, skipping any whose key is already in the batch (they stay first). */
  private take(group: number): Waiting<Op, R>[] {
    const queue = this.queues.get(group) ?? [];
    const batch: Waiting<Op, R>[] = [];
    const rest: Waiting<Op, R>[] = [];
    const keys = new Set<string>();
    for (const w of queue) {
      const key = this.options.conflictKey(w.op);
      if (batch.length >= this.options.maxBatch || keys.has(key)) {
        rest.push(w);
        keys.add(key); // a later op of a skipped key must not overtake it
      } else {
        keys.add(key);
        batch.push(w);
      }
    }
    if (rest.length > 0) this.queues.set(group, rest);
    else this.queues.delete(group);
    return batch;
  }

  private async run(group: number): Promise<void> {
    this.running.add(group);
    try {
      while (this.queues.has(group)) {
        const gate = this.gateOf(group);
        await gate.acquire();
        // taken once a connection is ours, so what arrived meanwhile joins the batch
        const batch = this.take(group);
        try {
          if (batch.length > 0) await this.write(group, batch);
        } finally {
          gate.release();
        }
      }
    } finally {
      this.running.delete(group);
      // an op submitted between the loop's last check and here
      if (this.queues.has(group)) void this.run(group);
    }
  }

  private async write(group: number, batch: Waiting<Op, R>[]): Promise<void> {
    let results: R[];
    try {
      results = await this.options.write(
        group,
        batch.map((w) => w.op),
      );
    } catch (err) {
      if (batch.length === 1) {
        batch[0]?.reject(err);
        return;
      }
      for (const w of batch) await this.write(group, [w]);
      return;
    }
    batch.forEach((w, i) => {
      w.resolve(results[i] as R);
    });
  }
}
