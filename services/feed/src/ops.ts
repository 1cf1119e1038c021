/**
 * Operator commands (see README, "Operating"):
 *   npm run ops -w @instantpost/feed -- rebuild --user <id>   rebuild one home timeline from Postgres
 *   npm run ops -w @instantpost/feed -- rebuild --all         rebuild every timeline and big-account set
 *   npm run ops -w @instantpost/feed -- reset                 empty the projections, Redis and the durable
 *                                                             consumers: the next start replays SOCIAL
 */
import { openServiceContext } from '@instantpost/chassis';
import { parseId } from '@instantpost/ids';
import { configSpec } from './config.ts';
import { createFeedDomain } from './domain/service.ts';
import { resetConsumers } from './handlers/consumers.ts';
import { truncateProjections } from './store/projections.ts';
import { wipeRedis } from './store/timelines.ts';

const usage = 'usage: ops.ts rebuild --user <id> | rebuild --all | reset';

async function main(args: string[]): Promise<void> {
  const [command, flag, value] = args;
  if (!(command === 'rebuild' && (flag === '--all' || (flag === '--user' && value))) && command !== 'reset') {
    throw new Error(usage);
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
    if (flag === '--user') {
      const userId = parseId(value, 'user id').toString();
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
