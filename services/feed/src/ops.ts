/**
 * Operator commands (see README, "Operating"; `--help` lists them):
 *   npm run ops -w @instantpost/feed -- rebuild --user <id>   rebuild one home timeline from Postgres
 *   npm run ops -w @instantpost/feed -- rebuild --all         rebuild every timeline and big-account set
 *   npm run ops -w @instantpost/feed -- reset                 empty the projections, Redis and the durable
 *                                                             consumers: the next start replays SOCIAL
 */
import { openServiceContext } from '@instantpost/chassis';
import { exitUsage, parseCommand } from '@instantpost/config/cli';
import { parseId } from '@instantpost/ids';
import { configSpec } from './config.ts';
import { createFeedDomain } from './domain/service.ts';
import { resetConsumers } from './handlers/consumers.ts';
import { truncateProjections } from './store/projections.ts';
import { wipeRedis } from './store/timelines.ts';

const COMMAND = {
  name: 'npm run ops -w @instantpost/feed --',
  synopsis: 'rebuild --user <id> | rebuild --all | reset',
  summary: "Repairs of feed's projections and timelines, with the service's own environment.",
  commands: {
    rebuild: 'rebuild home timelines from Postgres (--user or --all)',
    reset: 'empty the projections, Redis and the durable consumers: the next start replays SOCIAL',
  },
  options: {
    user: { type: 'string', value: 'id', description: 'rebuild: the one user whose timeline to rebuild' },
    all: { type: 'boolean', description: 'rebuild: every timeline and big-account set' },
  },
} as const;

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseCommand(COMMAND, args);
  const [command, extra] = positionals;
  if (!command) exitUsage(COMMAND, 'a command is needed');
  if (extra !== undefined) exitUsage(COMMAND, `unexpected argument "${extra}"`);
  if (command === 'rebuild' && (values.user === undefined) === (values.all !== true)) {
    exitUsage(COMMAND, 'rebuild needs one of --user <id> or --all');
  }
  if (command === 'reset' && (values.user !== undefined || values.all)) {
    exitUsage(COMMAND, 'reset takes no --user or --all');
  }
  const { config, infra, logger } = await openServiceContext(
    'feed',
    configSpec,
    new URL('./sql/migrations/', import.meta.url),
  );
  try {
    if (command === 'reset') {
      await resetConsumers(infra.jsm, config.natsPrefix);
      await truncateProjections(infra.shards);
      const keys = await wipeRedis(infra.redis, config.redisPrefix);
      process.stdout.write(`reset: projections emptied, ${keys} Redis keys deleted, consumers removed\n`);
      return;
    }
    const domain = createFeedDomain({
      shards: infra.shards,
      redis: infra.redis,
      redisPrefix: config.redisPrefix,
      settings: config,
    });
    if (values.user !== undefined) {
      const userId = parseId(values.user, 'user id').toString();
      const posts = await domain.builder.rebuildTimeline(userId, { replace: true });
      await domain.builder.rebuildBigFollowees(userId);
      process.stdout.write(`rebuilt the timeline of ${userId}: ${posts} posts\n`);
    } else {
      const users = await domain.builder.rebuildAll((done) => logger.info({ done }, 'rebuilding timelines'));
      process.stdout.write(`rebuilt ${users} timelines\n`);
    }
  } finally {
    await infra.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`feed ops: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
