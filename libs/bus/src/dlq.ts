import { type JetStreamClient, type JetStreamManager, NatsError, headers as natsHeaders } from 'nats';
import { type DeadLetter, parseDeadLetter } from './dead-letter.ts';
import { natsSubjectFor, streamNameFor } from './names.ts';

/** One stored dead letter and where it is in the `DLQ` stream. */
export interface StoredDeadLetter {
  readonly seq: number;
  readonly storedAt: Date;
  readonly letter: DeadLetter;
}

const NO_MESSAGE = 10037;

/** Every dead letter in `DLQ`, oldest first (at most `limit`). Letters that do not parse are skipped. */
export async function listDeadLetters(
  jsm: JetStreamManager,
  options: { prefix?: string | undefined; limit?: number } = {},
): Promise<StoredDeadLetter[]> {
  const stream = streamNameFor('DLQ', options.prefix);
  const { state } = await jsm.streams.info(stream);
  const out: StoredDeadLetter[] = [];
  if (state.messages === 0) return out;
  for (let seq = state.first_seq; seq <= state.last_seq && out.length < (options.limit ?? 1000); seq++) {
    const stored = await storedAt(jsm, stream, seq);
    if (!stored) continue; // deleted (replayed or purged one by one)
    try {
      out.push({ seq, storedAt: stored.time, letter: parseDeadLetter(stored.data) });
    } catch {
      // not a dead letter (a hand-published message on dlq.>): listed by `nats stream view`, not here
    }
  }
  return out;
}

/**
 * Publishes each letter's original event on its original subject again, then removes the letter. The
 * consumers see an ordinary event: the ones that had already handled it skip it (inbox, versions). The
 * message id is new (`replay:<dlq seq>:<event id>`), so the stream's duplicate window does not drop it.
 * Letters whose event is not JSON (malformed events) are kept: replaying them would fail again.
 */
export async function replayDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  which: 'all' | readonly number[],
  options: { prefix?: string | undefined } = {},
): Promise<{ replayed: number[]; kept: { seq: number; reason: string }[] }> {
  const stream = streamNameFor('DLQ', options.prefix);
  const letters = await listDeadLetters(jsm, { prefix: options.prefix, limit: Number.MAX_SAFE_INTEGER });
  const wanted = which === 'all' ? letters : letters.filter((l) => which.includes(l.seq));
  const replayed: number[] = [];
  const kept: { seq: number; reason: string }[] = [];
  for (const missing of which === 'all' ? [] : which.filter((seq) => !letters.some((l) => l.seq === seq))) {
    kept.push({ seq: missing, reason: 'no dead letter with this sequence' });
  }
  for (const { seq, letter } of wanted) {
    if (typeof letter.event !== 'object' || letter.event === null) {
      kept.push({ seq, reason: `${letter.error.code}: the event is not JSON; fix and publish it by hand` });
      continue;
    }
    const h = natsHeaders();
    for (const [key, values] of Object.entries(letter.headers)) {
      if (key.toLowerCase().startsWith('nats-')) continue;
      for (const value of values) h.append(key, value);
    }
    const id = (letter.event as { id?: unknown }).id;
    await js.publish(natsSubjectFor(letter.subject, options.prefix), JSON.stringify(letter.event), {
      msgID: `replay:${seq}:${typeof id === 'string' ? id : 'unknown'}`,
      headers: h,
    });
    await jsm.streams.deleteMessage(stream, seq, false);
    replayed.push(seq);
  }
  return { replayed, kept };
}

/** Removes dead letters: the given sequences, or every one. Returns how many went. */
export async function purgeDeadLetters(
  jsm: JetStreamManager,
  which: 'all' | readonly number[],
  options: { prefix?: string | undefined } = {},
): Promise<number> {
  const stream = streamNameFor('DLQ', options.prefix);
  if (which === 'all') return (await jsm.streams.purge(stream)).purged;
  let purged = 0;
  for (const seq of which) {
    if (await jsm.streams.deleteMessage(stream, seq, false).catch(() => false)) purged += 1;
  }
  return purged;
}

async function storedAt(jsm: JetStreamManager, stream: string, seq: number) {
  try {
    return await jsm.streams.getMessage(stream, { seq });
  } catch (err) {
    if (err instanceof NatsError && (err.api_error?.err_code === NO_MESSAGE || err.code === '404')) {
      return undefined;
    }
    throw err;
  }
}
