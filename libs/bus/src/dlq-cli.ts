/**
 * `npm run dlq -- <list | replay <seq…|all> | purge <seq…|all>> [--json]`: the dead letters of `DLQ`.
 * Connects with NATS_URL (and NATS_USER / NATS_PASSWORD, NATS_PREFIX) like the services do.
 */
import { exitUsage, parseCommand } from '@instantpost/config/cli';
import { connect } from 'nats';
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from './dlq.ts';

const COMMAND = {
  name: 'npm run dlq --',
  synopsis: '<list | replay <seq…|all> | purge <seq…|all>> [--json]',
  summary: 'The dead letters of the DLQ stream.',
  commands: {
    list: 'every dead letter: sequence, time, subject, consumer, deliveries, error',
    replay: 'publish the original events again on their subjects, then drop the letters (<seq…|all>)',
    purge: 'drop dead letters without replaying them (<seq…|all>)',
  },
  options: { json: { type: 'boolean', default: false, description: 'machine-readable output' } },
  notes: 'environment: NATS_URL (default nats://127.0.0.1:4222), NATS_USER, NATS_PASSWORD, NATS_PREFIX',
} as const;

function targets(args: string[]): 'all' | number[] {
  if (args.length === 1 && args[0] === 'all') return 'all';
  if (args.length === 0) exitUsage(COMMAND, 'name the sequences to act on, or all');
  return args.map((a) => {
    if (!/^[1-9][0-9]*$/.test(a)) exitUsage(COMMAND, `"${a}" is not a sequence number`);
    return Number(a);
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseCommand(COMMAND);
  const [command, ...rest] = positionals;
  if (!command) exitUsage(COMMAND, 'a command is needed');
  const env = process.env;
  const prefix = env.NATS_PREFIX || undefined;
  const nc = await connect({
    servers: (env.NATS_URL ?? 'nats://127.0.0.1:4222').split(','),
    name: 'dlq-cli',
    ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? '' } : {}),
  });
  try {
    const jsm = await nc.jetstreamManager();
    const print = (value: unknown, text: string) =>
      process.stdout.write(`${values.json ? JSON.stringify(value) : text}\n`);
    if (command === 'list') {
      const letters = await listDeadLetters(jsm, { prefix, limit: Number.MAX_SAFE_INTEGER });
      const lines = letters.map(
        ({ seq, storedAt, letter }) =>
          `${seq}\t${storedAt.toISOString()}\t${letter.subject}\t${letter.consumer}\t×${letter.deliveries}\t${letter.error.code}: ${letter.error.message}`,
      );
      print(letters, lines.length > 0 ? lines.join('\n') : 'the DLQ is empty');
    } else if (command === 'replay') {
      const result = await replayDeadLetters(nc.jetstream(), jsm, targets(rest), { prefix });
      const kept = result.kept.map((k) => `kept ${k.seq}: ${k.reason}`).join('\n');
      print(result, `replayed ${result.replayed.length}${kept ? `\n${kept}` : ''}`);
      if (result.kept.length > 0) process.exitCode = 1;
    } else {
      const purged = await purgeDeadLetters(jsm, targets(rest), { prefix });
      print({ purged }, `purged ${purged}`);
    }
  } finally {
    await nc.drain();
  }
}

await main();
