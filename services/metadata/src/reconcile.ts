/**
 * `npm run reconcile -w @instantpost/metadata -- --post <id> | --all`: recounts posts' like and comment
 * counters from their rows (the counters consumer keeps them from the events; this repairs one that went
 * wrong). Run with the service's own environment. Exit status: 0 done, 1 error, 2 misuse.
 */
import { parseArgs } from 'node:util';
import { openServiceContext } from '@instantpost/chassis';
import { parseId } from '@instantpost/ids';
import { configSpec } from './config.ts';
import { counters } from './domain/counters.ts';
import { cacheStore } from './store/cache.ts';
import { counterStore } from './store/counters.ts';

const USAGE = `usage: npm run reconcile -w @instantpost/metadata -- --post <id> | --all

Recounts posts' like and comment counters from the likes and comments rows, fixes those that differ
and drops their cached copies. Exact for posts with no like or comment still on its way to the
counters consumer (metadata-counters caught up); after an upgrade from inline counters, run --all once.

options:
  --post <id>  the post to recount
  --all        every post of every shard
  -h, --help   this text`;

function misuse(problem: string): never {
  process.stderr.write(`reconcile: ${problem}\n\n${USAGE}\n`);
  process.exit(2);
}

async function main(args: string[]): Promise<void> {
  let values: { post?: string | undefined; all?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        post: { type: 'string' },
        all: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    misuse(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if ((values.post === undefined) === (values.all !== true)) misuse('give one of --post <id> or --all');
  let postId: string | undefined;
  if (values.post !== undefined) {
    try {
      postId = parseId(values.post, 'post id').toString();
    } catch (err) {
      misuse(err instanceof Error ? err.message : String(err));
    }
  }
  const { config, infra, logger } = await openServiceContext(
    'metadata',
    configSpec,
    new URL('./sql/migrations/', import.meta.url),
  );
  try {
    const domain = counters({
      counters: counterStore(infra.shards),
      cache: cacheStore(infra.redis, {
        ttlSeconds: config.cacheTtlSeconds,
        postAuthorBuckets: config.postAuthorBuckets,
        logger,
      }),
    });
    const fixed = await domain.reconcile(postId === undefined ? 'all' : { postId });
    for (const r of fixed) {
      process.stdout.write(
        `post ${r.postId}: likes ${r.wasLikeCount} -> ${r.likeCount}, comments ${r.wasCommentCount} -> ${r.commentCount}\n`,
      );
    }
    process.stdout.write(`reconciled: ${fixed.length} counter${fixed.length === 1 ? '' : 's'} fixed\n`);
  } finally {
    await infra.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`reconcile: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
