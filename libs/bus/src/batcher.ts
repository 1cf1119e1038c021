import type { JsMsg } from 'nats';
import type { Slots } from './slots.ts';

/**
 * Groups the first deliveries a pull brings into batches of at most `size`: a batch goes out when it is
 * full or when the messages that arrived together have all been read (next turn of the event loop), each
 * batch taking one of the consumer's slots. A redelivery flushes what is pending and runs alone, as in an
 * unbatched consumer. `add` waits while every slot is busy and a full batch is pending: that is the
 * back-pressure on the pull.
 */
export class Batcher {
  private pending: JsMsg[] = [];
  private scheduled = false;
  private readonly size: number;
  private readonly slots: Slots;
  private readonly heartbeatMs: number;
  private readonly start: (batch: JsMsg[], release: () => void) => void;
  private readonly alone: (msg: JsMsg) => Promise<void>;

  constructor(options: {
    size: number;
    slots: Slots;
    heartbeatMs: number;
    /** Starts handling a batch in the background; calls `release` when done. */
    start: (batch: JsMsg[], release: () => void) => void;
    /** Waits for an exclusive slot and starts the redelivered message alone. */
    alone: (msg: JsMsg) => Promise<void>;
  }) {
    this.size = options.size;
    this.slots = options.slots;
    this.heartbeatMs = options.heartbeatMs;
    this.start = options.start;
    this.alone = options.alone;
  }

  async add(msg: JsMsg): Promise<void> {
    if (msg.info.deliveryCount > 1) {
      await this.drain();
      await this.alone(msg);
      return;
    }
    this.pending.push(msg);
    if (this.pending.length >= this.size) {
      await this.dispatch();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.dispatch();
      });
    }
  }

  /** Starts every pending message (the pull ended, or a redelivery must run alone next). */
  async drain(): Promise<void> {
    while (this.pending.length > 0) await this.dispatch();
  }

  private async dispatch(): Promise<void> {
    if (this.pending.length === 0) return;
    const release = await this.slots.acquire(() => {
      for (const msg of this.pending) msg.working();
    }, this.heartbeatMs);
    // taken once the slot is ours, so what arrived meanwhile joins the batch
    const batch = this.pending.splice(0, this.size);
    if (batch.length === 0) release();
    else this.start(batch, release);
  }
}
