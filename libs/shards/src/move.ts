import { ensureDatabases } from './databases.ts';
import type { LiveShardMap, MoveStep, ShardMove } from './live-map.ts';
import type { ShardMapStore } from './map-store.ts';
import { ShardMoveError, ShardMoveErrorCodes } from './move-errors.ts';
import {
  assertLogicalWal,
  clockMs,
  compareCounts,
  copySchemaDefinitions,
  copySequences,
  createMarker,
  dropMarker,
  dropPublication,
  dropSchemas,
  dropSubscription,
  fence,
  markMoving,
  moveNames,
  schemasOfShard,
  sleep,
  startReplication,
  unfence,
  waitCaughtUp,
  waitClockPast,
  waitCopied,
} from './replication.ts';
import { parseShardMap } from './shard-map.ts';
import { connectPostgres, redactUrl } from './urls.ts';

export interface MoveShardOptions {
  store: ShardMapStore;
  shard: number;
  /** The database to move the shard to (created when missing, on its server's `postgres` database). */
  target: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Called after each step is recorded; a test throws here to play a mover killed at that point. */
  afterStep?: (step: MoveStep | 'done') => void | Promise<void>;
  /** Initial copy (default 10 min) and catch-up under the fence (default 10 s). */
  copyTimeoutMs?: number;
  catchUpTimeoutMs?: number;
  /** How long the old copy stays after the flip, for reads already routed there (default 2000 ms). */
  retireGraceMs?: number;
}

export interface MoveResult {
  /** The map version that routes the shard to the target. */
  readonly version: number;
  /** Writes of the shard were refused from the fence to the flip (ms), when this run did both. */
  readonly fencedMs: number | undefined;
  readonly rows: number | undefined;
}

const connect = (url: string) => connectPostgres(url, { max: 2, onnotice: () => {}, connect_timeout: 10 });

/** `postgres` on the same server as `url`, to create `url`'s database. */
function adminOf(url: string): string {
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.toString();
}

/**
 * Records `move` (or, with `undefined`, its end) and returns the stored map — only while the map still
 * holds the move at the step this run stands on (`expected`): a move given up meanwhile (`--abort`)
 * stops its mover here, before anything else changes.
 */
async function record(
  store: ShardMapStore,
  shard: number,
  expected: ShardMove,
  move: ShardMove | undefined,
  routeTo?: string,
): Promise<LiveShardMap> {
  return store.update((m) => {
    const now = m.moves[shard];
    if (now?.step !== expected.step || now.to !== expected.to) {
      throw new ShardMoveError(
        ShardMoveErrorCodes.Aborted,
        `the move of shard ${shard} is ${now ? `at step ${now.step}` : 'gone'} in the map (this run stood at ${expected.step}): stopped`,
      );
    }
    const moves = { ...m.moves };
    if (move) moves[shard] = move;
    else delete moves[shard];
    const shards = routeTo === undefined ? m.shards : m.shards.map((u, s) => (s === shard ? routeTo : u));
    return { ...m, shards, moves };
  });
}

/**
 * Moves every service's schema of logical shard `shard` to `target` while the system serves traffic:
 * copy + catch up by logical replication, fence writes of that shard only, wait for the copy, carry the
 * sequences over, flip the live map, drop the old copy. Each step is recorded in the live map first, and
 * a re-run continues from the recorded step: a mover killed anywhere is run again, never half-moved.
 */
export async function moveShard(opts: MoveShardOptions): Promise<MoveResult> {
  const { store, shard } = opts;
  const log = opts.log ?? (() => {});
  const target = parseShardMap(`0=${opts.target}`).ranges[0]?.url as string;
  const names = moveNames(shard);
  let map = await store.get();
  if (!map) throw new ShardMoveError(ShardMoveErrorCodes.NoMap, `no shard map in bucket ${store.bucket}`);
  if (shard < 0 || shard >= map.shards.length || !Number.isInteger(shard))
    throw new ShardMoveError(
      ShardMoveErrorCodes.Failed,
      `shard ${shard} is not in the map (0-${map.shards.length - 1})`,
    );
  let move = map.moves[shard];
  if (!move) {
    if (map.shards[shard] === target) {
      log(`shard ${shard} is already on ${redactUrl(target)} (map version ${map.version})`);
      return { version: map.version, fencedMs: undefined, rows: undefined };
    }
    map = await store.update((m) =>
      m.moves[shard]
        ? undefined
        : {
            ...m,
            moves: {
              ...m.moves,
              [shard]: {
                from: m.shards[shard] as string,
                to: target,
                step: 'copying',
                startedAt: new Date().toISOString(),
              },
            },
          },
    );
    move = map.moves[shard] as ShardMove;
  }
  if (move.step === 'aborting') {
    throw new ShardMoveError(
      ShardMoveErrorCodes.Aborted,
      `the move of shard ${shard} to ${redactUrl(move.to)} is being given up: run move --abort ${shard} to finish that first`,
    );
  }
  if (move.to !== target) {
    throw new ShardMoveError(
      ShardMoveErrorCodes.Conflict,
      `shard ${shard} is already moving to ${redactUrl(move.to)} (step ${move.step}): run that move again to finish it`,
    );
  }
  log(
    `shard ${shard}: ${redactUrl(move.from)} -> ${redactUrl(move.to)}, at step ${move.step} (map version ${map.version})`,
  );
  const step = async (next: MoveStep | 'done', routeTo?: string) => {
    const current = move as ShardMove;
    map = await record(
      store,
      shard,
      current,
      next === 'done' ? undefined : { ...current, step: next },
      routeTo,
    );
    if (next !== 'done') move = { ...current, step: next };
    log(`  ${next === 'done' ? 'done' : `step ${next}`} (map version ${map.version})`);
    await opts.afterStep?.(next);
  };

  const created = await ensureDatabases(parseShardMap(`0=${move.to}`), adminOf(move.to));
  if (created.length > 0) log(`  created database ${created.join(', ')}`);
  const source = connect(move.from);
  const dest = connect(move.to);
  let fencedAt: number | undefined;
  let rows: number | undefined;
  try {
    // Schemas are found on the source until the flip, on the target after it (the source may be gone).
    const schemas = await schemasOfShard(move.step === 'retiring' ? dest : source, shard);
    if (schemas.length === 0)
      throw new ShardMoveError(ShardMoveErrorCodes.Failed, `no schema of shard ${shard} found`);

    if (move.step === 'copying') {
      await assertLogicalWal(source, move.from);
      // A run that died while copying left a partial copy: start the copy again from nothing.
      await dropSubscription(dest, names);
      await dropPublication(source, names);
      await dropSchemas(dest, schemas);
      await dropMarker(dest, names);
      log(`  copying ${schemas.join(', ')}`);
      await markMoving(source, move.from, names);
      await copySchemaDefinitions(move.from, move.to, schemas);
      await createMarker(dest, names, false);
      await startReplication(source, dest, move.from, schemas, names);
      const started = Date.now();
      await waitCopied(dest, names, opts.copyTimeoutMs ?? 600_000, log);
      log(`  initial copy done in ${Date.now() - started} ms; catching up`);
      await step('fencing');
    }
    if (move.step === 'fencing') {
      fencedAt = Date.now();
      await fence(source, schemas, shard);
      const [still, sourceNow] = await Promise.all([store.get(), clockMs(source)]);
      // An --abort that ran between this run's last step and its fence has lifted the fence already:
      // lift this one too rather than leave the shard refusing writes with no mover.
      if (still?.moves[shard]?.step !== 'fencing') {
        await unfence(source, schemas, shard);
        throw new ShardMoveError(ShardMoveErrorCodes.Aborted, `the move of shard ${shard} was given up`);
      }
      log(`  fence up: writes of shard ${shard} wait for the flip`);
      const up = Date.now();
      await waitCaughtUp(source, dest, names, opts.catchUpTimeoutMs ?? 10_000);
      const caughtUp = Date.now();
      const [sequences, counted] = await Promise.all([
        copySequences(source, dest, schemas),
        compareCounts(source, dest, schemas),
      ]);
      rows = counted;
      const checked = Date.now();
      await waitClockPast(dest, sourceNow);
      log(
        `  fenced and caught up: ${rows} rows, ${sequences} sequences carried over ` +
          `(catch-up ${caughtUp - up} ms, sequences and counts ${checked - caughtUp} ms, clock ${Date.now() - checked} ms)`,
      );
      await step('caught-up');
    }
    // The flip comes first: writers wait until it. The subscription has nothing left to apply (the source
    // is fenced), so it is dropped after, and again by a re-run at `retiring` (idempotent).
    if (move.step === 'caught-up') await step('retiring', move.to);
    const fencedMs = fencedAt === undefined ? undefined : Date.now() - fencedAt;
    if (fencedMs !== undefined) log(`  writes of shard ${shard} waited at most ${fencedMs} ms`);
    if (move.step === 'retiring') {
      await dropSubscription(dest, names);
      await sleep(opts.retireGraceMs ?? 2000);
      await dropPublication(source, names);
      await dropSchemas(source, await schemasOfShard(source, shard));
      await dropMarker(source, names);
      await dropMarker(dest, names);
      await step('done');
    }
    return { version: map.version, fencedMs, rows };
  } finally {
    await Promise.all([source.end({ timeout: 5 }), dest.end({ timeout: 5 })]);
  }
}

export interface AbortMoveOptions {
  store: ShardMapStore;
  shard: number;
  log?: (line: string) => void;
}

/**
 * Gives up a move of `shard` before its flip (`npm run shards -- move --abort <shard>`): the map records
 * `aborting` first (a mover still running stops at its next step), then the subscription, slot and
 * publication go, the fence is lifted (writers waiting at it go on, on the same database), the partial
 * copy and the markers are dropped, and the move leaves the map. The shard never left its database.
 * Idempotent: an abort that died part-way is run again. Refused once the map routes the shard to the
 * target (`retiring`): finish that move, then move the shard back.
 */
export async function abortMove(opts: AbortMoveOptions): Promise<{ aborted: boolean; version: number }> {
  const { store, shard } = opts;
  const log = opts.log ?? (() => {});
  const map = await store.get();
  if (!map) throw new ShardMoveError(ShardMoveErrorCodes.NoMap, `no shard map in bucket ${store.bucket}`);
  const move = map.moves[shard];
  if (!move) {
    log(`no move of shard ${shard} in progress (map version ${map.version})`);
    return { aborted: false, version: map.version };
  }
  if (move.step === 'retiring') {
    throw new ShardMoveError(
      ShardMoveErrorCodes.Aborted,
      `shard ${shard} is already routed to ${redactUrl(move.to)}: finish the move (run it again), then move it back`,
    );
  }
  log(`giving up the move of shard ${shard} to ${redactUrl(move.to)} (it was at step ${move.step})`);
  const aborting: ShardMove = { ...move, step: 'aborting' };
  if (move.step !== 'aborting') await record(store, shard, move, aborting);
  log('  step aborting');
  const names = moveNames(shard);
  const source = connect(move.from);
  // The target database may not exist yet (aborted before the copy began).
  const dest = connect(move.to);
  const targetExists = await dest`SELECT 1`.then(
    () => true,
    (error: { code?: string }) => {
      if (error.code === '3D000') return false;
      throw error;
    },
  );
  try {
    if (targetExists) await dropSubscription(dest, names);
    await dropPublication(source, names);
    await unfence(source, await schemasOfShard(source, shard), shard);
    log('  fence lifted: writes go on where they were');
    if (targetExists) {
      await dropSchemas(dest, await schemasOfShard(dest, shard));
      await dropMarker(dest, names);
    }
    await dropMarker(source, names);
    const done = await record(store, shard, aborting, undefined);
    log(`  aborted: shard ${shard} stays on ${redactUrl(move.from)} (map version ${done.version})`);
    return { aborted: true, version: done.version };
  } finally {
    await Promise.all([source.end({ timeout: 5 }), dest.end({ timeout: 5 })]);
  }
}
