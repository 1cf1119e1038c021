import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import {
  createPublisher,
  defineConsumer,
  listDeadLetters,
  natsSubjectFor,
  purgeDeadLetters,
  replayDeadLetters,
  startConsumer,
} from '../src/index.ts';
import { type Fixture, fast, openFixture, sampleEvent, silent, waitFor } from './helpers.ts';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/dlq-cli.ts', import.meta.url));

let fx: Fixture;
test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
  await stopTestInfra();
});

/** A consumer that fails every event until `healed`, so its events land in the DLQ first. */
async function brokenConsumer(prefix: string) {
  const state = { healed: false, handled: [] as string[] };
  const definition = defineConsumer({
    name: 'feed-fanout',
    subjects: ['post.published'],
    settings: { ...fast, maxDeliver: 1 },
    handlers: {
      'post.published': async (event) => {
        if (!state.healed) throw new Error('the bug');
        state.handled.push(event.id);
      },
    },
  });
  const runner = await startConsumer({ nc: fx.nc, definition, prefix, logger: silent });
  return { state, runner };
}

test('replay publishes the failed events again and empties the DLQ; the fixed consumer handles them once', async (t) => {
  const prefix = await fx.isolate();
  const { state, runner } = await brokenConsumer(prefix);
  t.teardown(() => runner.stop());
  const events = [sampleEvent('post.published'), sampleEvent('post.published')];
  for (const e of events) await createPublisher({ nc: fx.nc, prefix }).publish(e);
  const letters = await waitFor('two dead letters', async () => {
    const found = await listDeadLetters(fx.jsm, { prefix });
    return found.length === 2 ? found : undefined;
  });
  t.deepEqual(
    letters.map((l) => l.letter.error.code),
    ['HANDLER_FAILED', 'HANDLER_FAILED'],
  );

  state.healed = true;
  const result = await replayDeadLetters(fx.nc.jetstream(), fx.jsm, 'all', { prefix });
  t.deepEqual(
    result.replayed,
    letters.map((l) => l.seq),
  );
  t.deepEqual(result.kept, []);
  await waitFor('both events handled', () => state.handled.length >= 2);
  t.deepEqual([...state.handled].sort(), events.map((e) => e.id).sort());
  t.deepEqual(await listDeadLetters(fx.jsm, { prefix }), [], 'the DLQ is empty');
});

test('a malformed event is kept on replay; purge removes letters by sequence or all', async (t) => {
  const prefix = await fx.isolate();
  const { runner } = await brokenConsumer(prefix);
  t.teardown(() => runner.stop());
  fx.nc.publish(natsSubjectFor('post.published', prefix), new TextEncoder().encode('{not json'));
  await createPublisher({ nc: fx.nc, prefix }).publish(sampleEvent('post.published'));
  const letters = await waitFor('two dead letters', async () => {
    const found = await listDeadLetters(fx.jsm, { prefix });
    return found.length === 2 ? found : undefined;
  });
  const malformed = letters.find((l) => l.letter.error.code === 'BAD_JSON');
  const failed = letters.find((l) => l.letter.error.code === 'HANDLER_FAILED');
  if (!malformed || !failed) return t.fail('expected one malformed and one failed letter');
  const result = await replayDeadLetters(fx.nc.jetstream(), fx.jsm, [malformed.seq], { prefix });
  t.deepEqual(result.replayed, []);
  t.is(result.kept[0]?.seq, malformed.seq);
  t.is(await purgeDeadLetters(fx.jsm, [malformed.seq], { prefix }), 1);
  t.deepEqual(
    (await listDeadLetters(fx.jsm, { prefix })).map((l) => l.seq),
    [failed.seq],
  );
  t.is(await purgeDeadLetters(fx.jsm, 'all', { prefix }), 1);
  t.deepEqual(await listDeadLetters(fx.jsm, { prefix }), []);
});

test('npm run dlq: --help, list as JSON, and a clear error for a bad command', async (t) => {
  const prefix = await fx.isolate();
  const { runner } = await brokenConsumer(prefix);
  t.teardown(() => runner.stop());
  await createPublisher({ nc: fx.nc, prefix }).publish(sampleEvent('post.published'));
  await waitFor('a dead letter', async () => (await listDeadLetters(fx.jsm, { prefix })).length === 1);
  const env = { ...process.env, NATS_URL: fx.ns.nats.servers, NATS_PREFIX: prefix };
  const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, ...args], { env });

  const help = await cli('--help');
  t.regex(help.stdout, /replay <seq…\|all>/);
  t.regex(help.stdout, /--json/);
  const listed = JSON.parse((await cli('list', '--json')).stdout) as { letter: { consumer: string } }[];
  t.is(listed.length, 1);
  t.is(listed[0]?.letter.consumer, 'feed-fanout');
  const bad = await t.throwsAsync(cli('explode'));
  t.regex(String((bad as { stderr?: string }).stderr), /unknown command "explode"/);
  t.regex((await cli('purge', 'all')).stdout, /purged 1/);
  t.regex((await cli('list')).stdout, /the DLQ is empty/);
});
