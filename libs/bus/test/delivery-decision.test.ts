/** The delivery decision alone: no NATS, no database. */
import { EventError, parseEvent } from '@instantpost/events';
import test from 'ava';
import {
  type DeliveryResult,
  deadLetterFailed,
  decideDelivery,
  HANDLER_TIMEOUT,
  type RetryPolicy,
  retryDelay,
} from '../src/delivery-decision.ts';
import { BusConfigError, BusErrorCodes, NonRetryableError, resolveSettings } from '../src/index.ts';

const policy: RetryPolicy = { maxDeliver: 5, retryInitialMs: 1000, retryMaxMs: 60_000, retryFactor: 2 };
const middle = () => 0.5; // no jitter: 0.8 + 0.5 × 0.4 = 1
const failed = (error: unknown): DeliveryResult => ({ kind: 'failed', error });

test('a handled event is acked; a subject the consumer does not handle is acked and counted as skipped', (t) => {
  t.deepEqual(decideDelivery({ kind: 'handled' }, 1, policy), { action: 'ack', outcome: 'acked' });
  t.deepEqual(decideDelivery({ kind: 'handled' }, 5, policy), { action: 'ack', outcome: 'acked' });
  t.deepEqual(decideDelivery({ kind: 'not-handled' }, 1, policy), { action: 'ack', outcome: 'skipped' });
});

test('a malformed event is dead-lettered at once with the parse error, never retried', (t) => {
  const like = JSON.stringify({
    specversion: '1.0',
    id: 'x',
    source: '/test',
    type: 'like.deleted',
    time: new Date().toISOString(),
    data: {},
  });
  const cases: Array<[string, string]> = [
    ['{"specversion":"1.0"', 'BAD_JSON'],
    ['hello', 'BAD_JSON'],
    ['{"id":"x"}', 'NOT_CLOUDEVENT'],
    [like.replace('like.deleted', 'like.exploded'), 'UNKNOWN_TYPE'],
    [like, 'TYPE_MISMATCH'],
  ];
  for (const [payload, code] of cases) {
    const parsed = parseEvent(new TextEncoder().encode(payload), { expectedType: 'like.created' });
    if (parsed.ok) return t.fail(`${payload} parsed`);
    const decision = decideDelivery({ kind: 'invalid', error: parsed.error }, 1, policy);
    if (decision.action !== 'dead-letter') return t.fail(`${payload}: ${decision.action}`);
    t.is(decision.outcome, 'invalid');
    t.is(decision.reason.code, code, payload);
    t.is(decision.reason.path, parsed.error.path || undefined, 'the offending field, when there is one');
    t.is(decision.reason.message, parsed.error.message);
  }
  const schema = decideDelivery(
    { kind: 'invalid', error: new EventError('SCHEMA_VIOLATION', 'missing authorId', '/data/authorId') },
    1,
    policy,
  );
  t.like(schema, {
    action: 'dead-letter',
    outcome: 'invalid',
    reason: { code: 'SCHEMA_VIOLATION', path: '/data/authorId' },
  });
});

test('a failure before the last delivery is retried after the backoff of that delivery', (t) => {
  const decisions = [1, 2, 3, 4].map((n) =>
    decideDelivery(failed(new Error('redis down')), n, policy, middle),
  );
  t.deepEqual(
    decisions,
    [1000, 2000, 4000, 8000].map((delayMs) => ({ action: 'retry', delayMs, outcome: 'retried' })),
  );
});

test('a failure on the last delivery (or later, after max_deliver was lowered) is dead-lettered with its error', (t) => {
  class RedisDown extends Error {
    override readonly name = 'RedisDown';
  }
  for (const deliveries of [5, 6]) {
    t.deepEqual(decideDelivery(failed(new RedisDown('connection refused')), deliveries, policy), {
      action: 'dead-letter',
      outcome: 'dead-lettered',
      reason: { code: 'HANDLER_FAILED', message: 'connection refused', name: 'RedisDown' },
    });
  }
  t.like(decideDelivery(failed(new Error('x')), 1, { ...policy, maxDeliver: 1 }), { action: 'dead-letter' });
});

test('a thrown non-Error is dead-lettered with its text; a huge message is cut', (t) => {
  t.like(decideDelivery(failed('plain string'), 5, policy), {
    reason: { code: 'HANDLER_FAILED', message: 'plain string', name: 'Error' },
  });
  const decision = decideDelivery(failed(new Error('x'.repeat(10_000))), 5, policy);
  t.is(decision.action === 'dead-letter' ? decision.reason.message.length : 0, 4000);
});

test('NonRetryableError (or an error with its code) is dead-lettered on the first delivery', (t) => {
  t.deepEqual(decideDelivery(failed(new NonRetryableError('owner does not exist')), 1, policy), {
    action: 'dead-letter',
    outcome: 'dead-lettered',
    reason: { code: BusErrorCodes.NonRetryable, message: 'owner does not exist', name: 'NonRetryableError' },
  });
  const lookalike = Object.assign(new Error('refused'), { code: BusErrorCodes.NonRetryable });
  t.like(decideDelivery(failed(lookalike), 1, policy), {
    action: 'dead-letter',
    reason: { code: BusErrorCodes.NonRetryable },
  });
  const other = Object.assign(new Error('busy'), { code: 'ECONNRESET' });
  t.like(decideDelivery(failed(other), 1, policy), { action: 'retry' });
});

test('a handler past its deadline is retried with backoff, and dead-lettered as HANDLER_TIMEOUT on the last delivery', (t) => {
  const timedOut: DeliveryResult = { kind: 'timed-out', afterMs: 30_000 };
  t.deepEqual(decideDelivery(timedOut, 1, policy, middle), {
    action: 'retry',
    delayMs: 1000,
    outcome: 'retried',
  });
  t.deepEqual(decideDelivery(timedOut, 4, policy, middle), {
    action: 'retry',
    delayMs: 8000,
    outcome: 'retried',
  });
  t.deepEqual(decideDelivery(timedOut, 5, policy), {
    action: 'dead-letter',
    outcome: 'dead-lettered',
    reason: { code: HANDLER_TIMEOUT, message: 'handler did not finish within 30000 ms (handlerTimeoutMs)' },
  });
});

test('the backoff grows by the factor, stops at the cap, and its jitter stays within ±20 %', (t) => {
  const p: RetryPolicy = { maxDeliver: 20, retryInitialMs: 200, retryMaxMs: 5000, retryFactor: 3 };
  t.deepEqual(
    [1, 2, 3, 4, 5, 12].map((n) => retryDelay(n, p, middle)),
    [200, 600, 1800, 5000, 5000, 5000],
  );
  t.is(
    retryDelay(1, p, () => 0),
    160,
  );
  t.is(
    retryDelay(1, p, () => 0.999_999),
    240,
  );
  t.is(
    retryDelay(12, p, () => 0.999_999),
    6000,
    'the cap is jittered too, so a burst spreads out',
  );
  t.is(retryDelay(0, p, middle), 200, 'a delivery count of 0 never shrinks the first delay');
  t.is(
    retryDelay(1, { ...p, retryInitialMs: 1 }, () => 0),
    1,
    'never a bare nak(0)',
  );
  for (let i = 0; i < 200; i++) {
    const d = retryDelay(3, p);
    t.true(d >= 1440 && d <= 2160, `${d} within 1800 ± 20 %`);
  }
});

test('the defaults: 1 s doubling to 60 s over 5 deliveries', (t) => {
  const defaults = resolveSettings();
  t.deepEqual(
    [1, 2, 3, 4, 7, 8].map((n) => retryDelay(n, defaults, middle)),
    [1000, 2000, 4000, 8000, 60_000, 60_000],
  );
  t.like(decideDelivery(failed(new Error('x')), 4, defaults), { action: 'retry' });
  t.like(decideDelivery(failed(new Error('x')), 5, defaults), { action: 'dead-letter' });
  t.is(defaults.handlerTimeoutMs, 30_000, 'a handler deadline by default');
  t.throws(() => resolveSettings({ handlerTimeoutMs: 0 }), { instanceOf: BusConfigError });
});

test('a dead letter that cannot be published keeps the event: retry after the backoff', (t) => {
  t.deepEqual(deadLetterFailed(2, policy, middle), { action: 'retry', delayMs: 2000, outcome: 'retried' });
  t.deepEqual(deadLetterFailed(9, policy, middle), { action: 'retry', delayMs: 60_000, outcome: 'retried' });
});
