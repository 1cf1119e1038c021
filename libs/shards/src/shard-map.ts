import { MAX_SHARD } from '@instantpost/ids';
import { ShardMapError, ShardMapErrorCodes } from './errors.ts';
import { databaseNameOf, redactUrl } from './urls.ts';

/** Logical shards `from..to` (inclusive) live in the database at `url`. */
export interface ShardRange {
  readonly from: number;
  readonly to: number;
  readonly url: string;
}

/**
 * Which physical database holds each logical shard. Logical shards are `0..shardCount-1`, each in
 * exactly one range. Several ranges may share a database.
 */
export interface ShardMap {
  /** Sorted by `from`, contiguous from 0. */
  readonly ranges: readonly ShardRange[];
  readonly shardCount: number;
}

/** What services use locally when `SHARD_MAP` is unset: 16 logical shards on two databases. */
export const DEFAULT_LOCAL_SHARD_MAP =
  '0-7=postgres://postgres@127.0.0.1:5432/instantpost_0;8-15=postgres://postgres@127.0.0.1:5432/instantpost_1';

const ENTRY = /^(\d+)(?:\s*-\s*(\d+))?\s*=\s*(\S+)$/;
const EXAMPLE = '"0-7=postgres://127.0.0.1:5432/db_a;8-15=postgres://127.0.0.1:5432/db_b"';

function parseUrl(raw: string, where: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ShardMapError(ShardMapErrorCodes.BadUrl, `${where}: "${redactUrl(raw)}" is not a URL`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ShardMapError(
      ShardMapErrorCodes.BadUrl,
      `${where}: "${redactUrl(raw)}" must be a postgres:// or postgresql:// URL`,
    );
  }
  if (url.hostname === '' || databaseNameOf(raw) === '') {
    throw new ShardMapError(
      ShardMapErrorCodes.BadUrl,
      `${where}: "${redactUrl(raw)}" must name a host and a database, like postgres://host:5432/db`,
    );
  }
  return raw;
}

function shardNumber(digits: string, where: string): number {
  const n = Number(digits);
  if (!Number.isSafeInteger(n) || n > MAX_SHARD) {
    throw new ShardMapError(
      ShardMapErrorCodes.ShardOutOfRange,
      `${where}: shard ${digits} is outside 0-${MAX_SHARD}`,
    );
  }
  return n;
}

function span(from: number, to: number): string {
  return from === to ? `shard ${from}` : `shards ${from}-${to}`;
}

/**
 * Parses the `SHARD_MAP` text: `;`-separated entries `<from>-<to>=<postgres url>` (or `<n>=<url>` for
 * one shard), e.g. `0-7=postgres://127.0.0.1:5432/db_a;8-15=postgres://127.0.0.1:5432/db_b`.
 * Shards are 0-8191; every shard from 0 to the highest one named must be mapped exactly once.
 * Throws a `ShardMapError` whose message names the entry and the problem (passwords hidden), so
 * it reads well inside `custom('SHARD_MAP', parseShardMap, ...)`.
 */
export function parseShardMap(text: string): ShardMap {
  const entries = text
    .split(';')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) {
    throw new ShardMapError(
      ShardMapErrorCodes.Empty,
      `shard map is empty: expected <from>-<to>=<postgres url> entries separated by ";", e.g. ${EXAMPLE}`,
    );
  }
  const ranges = entries.map((entry, i): ShardRange & { label: string } => {
    const where = `entry ${i + 1} "${redactUrl(entry)}"`;
    const m = ENTRY.exec(entry);
    if (!m?.[1] || !m[3]) {
      throw new ShardMapError(
        ShardMapErrorCodes.Syntax,
        `${where} must look like <from>-<to>=<postgres url> (or <shard>=<url>), e.g. ${EXAMPLE}`,
      );
    }
    const from = shardNumber(m[1], where);
    const to = m[2] === undefined ? from : shardNumber(m[2], where);
    if (to < from) {
      throw new ShardMapError(
        ShardMapErrorCodes.Syntax,
        `${where}: range ${from}-${to} ends before it starts`,
      );
    }
    return { from, to, url: parseUrl(m[3], where), label: `entry ${i + 1} (${span(from, to)})` };
  });

  ranges.sort((a, b) => a.from - b.from || a.to - b.to);
  let next = 0;
  let previous: (typeof ranges)[number] | undefined;
  for (const r of ranges) {
    if (previous && r.from <= previous.to) {
      const overlapTo = Math.min(r.to, previous.to);
      throw new ShardMapError(
        ShardMapErrorCodes.Overlap,
        `${span(r.from, overlapTo)} mapped twice: by ${previous.label} and ${r.label}`,
      );
    }
    if (r.from > next) {
      const highest = ranges.reduce((max, x) => Math.max(max, x.to), 0);
      throw new ShardMapError(
        ShardMapErrorCodes.Gap,
        `${span(next, r.from - 1)} not mapped: every shard from 0 to the highest one (${highest}) needs a database`,
      );
    }
    next = r.to + 1;
    previous = r;
  }
  return {
    ranges: ranges.map(({ from, to, url }) => ({ from, to, url })),
    shardCount: next,
  };
}

/** The text form of a map (what `parseShardMap` reads), passwords hidden unless `reveal`. */
export function formatShardMap(map: ShardMap, options: { reveal?: boolean } = {}): string {
  return map.ranges
    .map(
      (r) => `${r.from === r.to ? r.from : `${r.from}-${r.to}`}=${options.reveal ? r.url : redactUrl(r.url)}`,
    )
    .join(';');
}

/** The physical databases of a map, each with its logical shards, in order of first shard. */
export function databasesOf(map: ShardMap): { url: string; shards: number[] }[] {
  const byUrl = new Map<string, number[]>();
  for (const r of map.ranges) {
    const shards = byUrl.get(r.url) ?? [];
    for (let s = r.from; s <= r.to; s++) shards.push(s);
    byUrl.set(r.url, shards);
  }
  return [...byUrl].map(([url, shards]) => ({ url, shards }));
}
