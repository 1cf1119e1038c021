import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from 'nats';
import { BusErrorCodes, PublishError } from './errors.ts';

/** The JetStream acknowledgement of one publish. */
export interface PublishReceipt {
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already held this event id within its duplicate window (nothing stored). */
  readonly duplicate: boolean;
}

interface Pending {
  readonly subject: string;
  readonly deadline: number;
  readonly resolve: (receipt: PublishReceipt) => void;
  readonly reject: (err: PublishError) => void;
}

interface AckBody {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: { code?: number; description?: string };
}

const decoder = new TextDecoder();

/**
 * JetStream publishes with their acks correlated on one reply subscription (nats.go's PublishAsync), not
 * one nats.js request each: a request builds two `NatsError`s (a timeout armed in advance and the
 * "cancelled" rejection of a request already answered) and a timer per publish, 4-9 % of the bus
 * benchmark's CPU with stacks captured (bench/bus, `--cpu-prof`). Here a publish is a core publish with
 * the reply subject `<inbox>.<n>`; its ack resolves it by `n`, and one sweep rejects whatever outlived
 * the timeout.
 */
export class AckChannel {
  private readonly base = `${createInbox()}.`;
  private readonly pending = new Map<string, Pending>();
  private sweeper: NodeJS.Timeout | undefined;
  private listening = false;
  private next = 0;
  private closedReason: string | undefined;

  private readonly nc: NatsConnection;
  private readonly timeoutMs: number;

  constructor(nc: NatsConnection, timeoutMs: number) {
    this.nc = nc;
    this.timeoutMs = timeoutMs;
  }

  publish(subject: string, payload: Uint8Array, headers: MsgHdrs): Promise<PublishReceipt> {
    if (this.closedReason !== undefined || this.nc.isClosed() || this.nc.isDraining()) {
      return Promise.reject(closedError(subject, this.closedReason ?? 'the NATS connection is closed'));
    }
    if (!this.listening) {
      // on the first publish: a publisher may be made with a connection that is already closed
      this.nc.subscribe(`${this.base}*`, { callback: (err, msg) => this.onAck(err, msg) });
      void this.nc.closed().then(() => this.failAll('the NATS connection closed'));
      this.listening = true;
    }
    const token = (this.next++).toString(36);
    return new Promise<PublishReceipt>((resolve, reject) => {
      this.pending.set(token, { subject, deadline: Date.now() + this.timeoutMs, resolve, reject });
      try {
        this.nc.publish(subject, payload, { headers, reply: this.base + token });
      } catch (err) {
        this.pending.delete(token);
        reject(failed(subject, message(err), err));
        return;
      }
      this.sweeper ??= setTimeout(() => this.sweep(), Math.min(this.timeoutMs, 250));
    });
  }

  private onAck(err: Error | null, msg: Msg): void {
    const token = msg.subject.slice(this.base.length);
    const waiting = this.pending.get(token);
    if (!waiting) return; // answered after its timeout
    this.pending.delete(token);
    const outcome = readAck(waiting.subject, err, msg);
    if (outcome instanceof PublishError) waiting.reject(outcome);
    else waiting.resolve(outcome);
  }

  /** Pendings are in publish order and share one timeout: the expired ones are a prefix of the map. */
  private sweep(): void {
    this.sweeper = undefined;
    const now = Date.now();
    for (const [token, waiting] of this.pending) {
      if (waiting.deadline > now) break;
      this.pending.delete(token);
      waiting.reject(
        new PublishError(
          BusErrorCodes.PublishTimeout,
          `no JetStream ack for ${waiting.subject} in time`,
          waiting.subject,
        ),
      );
    }
    if (this.pending.size > 0) this.sweeper = setTimeout(() => this.sweep(), Math.min(this.timeoutMs, 250));
  }

  private failAll(reason: string): void {
    this.closedReason ??= reason;
    if (this.sweeper) clearTimeout(this.sweeper);
    this.sweeper = undefined;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const w of waiting) w.reject(closedError(w.subject, reason));
  }
}

/** The receipt in a JetStream ack, or why there is none. */
function readAck(subject: string, err: Error | null, msg: Msg): PublishReceipt | PublishError {
  if (err) return failed(subject, err.message, err);
  const status = msg.headers?.code ?? 0;
  if (status === 503) {
    return new PublishError(
      BusErrorCodes.NoStream,
      `no stream captures ${subject} (or JetStream is down)`,
      subject,
    );
  }
  if (status >= 400) return failed(subject, `status ${status} ${msg.headers?.description ?? ''}`);
  let body: AckBody;
  try {
    body = JSON.parse(decoder.decode(msg.data)) as AckBody;
  } catch (parseError) {
    return failed(subject, 'the ack is not JSON', parseError);
  }
  if (body.error)
    return failed(subject, `${body.error.description ?? 'JetStream error'} (${body.error.code})`);
  if (!body.stream || typeof body.seq !== 'number') return failed(subject, 'the ack names no stream');
  return { stream: body.stream, seq: body.seq, duplicate: body.duplicate === true };
}

function closedError(subject: string, reason: string): PublishError {
  return new PublishError(BusErrorCodes.ConnectionClosed, `NATS connection closed: ${reason}`, subject);
}

function failed(subject: string, why: string, cause?: unknown): PublishError {
  return new PublishError(
    BusErrorCodes.PublishFailed,
    `publish to ${subject} failed: ${why}`,
    subject,
    cause === undefined ? undefined : { cause },
  );
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
