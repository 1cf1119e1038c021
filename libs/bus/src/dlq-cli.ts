/**
 * `npm run dlq -- <list | replay <seq…|all> | purge <seq…|all>> [--json]`: the dead letters of `DLQ`.
 * Connects with NATS_URL (and NATS_USER / NATS_PASSWORD, NATS_PREFIX) like the services do.
 */
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from './dlq.ts';

const USAGE = `usage: npm run dlq -- <command> [--json]

commands:
  list                 every dead letter: sequence, subject, consumer, deliveries, error
  replay <seq…|all>    publish the original events again on their subjects, then drop the letters
  purge <seq…|all>     drop dead letters without replaying them

environment: NATS_URL (default nats://127.0.0.1:4222), NATS_USER, NATS_PASSWORD, NATS_PREFIX
options:
  --json               machine-readable output
  -h, --help           this text`;

function fail(message: string): never {
  process.stderr.write(`dlq: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function targets(args: string[]): 'all' | number[] {
  if (args.length === 1 && args[0] === 'all') return 'all';
  if (args.length === 0) fail('name the sequences to act on, or all');
  return args.map((a) => {
    if (!/^[1-9][0-9]*$/.test(a)) fail(`"${a}" is not a sequence number`);
    return Number(a);
  });
}

const OPTIONS = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

function parse() {
  try {
    return parseArgs({ options: OPTIONS, allowPositionals: true });
  } catch (err) {
    fail((err as Error).message);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parse();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const [command, ...rest] = positionals;
  if (!command) fail('a command is needed');
  if (!['list', 'replay', 'purge'].includes(command)) fail(`unknown command "${command}"`);
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
