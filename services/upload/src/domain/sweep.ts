import { isId, timeOf } from '@instantpost/ids';

/** What the sweep needs: the keys under `originals/`, and which media ids have a row. */
export interface SweepDeps {
  /** Pages of keys under `originals/`. */
  readonly pages: AsyncIterable<readonly string[]>;
  /** The ids among `ids` that have an upload row (`ids` may span shards). */
  existing(ids: readonly string[]): Promise<ReadonlySet<string>>;
  remove(key: string): Promise<void>;
  /** Originals younger than this may belong to an upload still in flight: never touched. */
  readonly olderThanMs: number;
  readonly now?: () => number;
  /** Report only; delete nothing. */
  readonly dryRun?: boolean;
}

export interface SweepReport {
  checked: number;
  /** Orphans deleted (or, in a dry run, that would be). */
  removed: string[];
  /** Keys under originals/ that are not `originals/<id>`: left alone for a person to look at. */
  foreign: string[];
}

const PREFIX = 'originals/';

/**
 * Removes originals that have no upload row: left by a process that died between storing the photo and
 * committing its row (a refused upload deletes its own). The id in the key carries its creation time, so
 * originals of uploads that may still be in flight are recognised without a lookup and skipped.
 */
export async function sweepOrphanOriginals(deps: SweepDeps): Promise<SweepReport> {
  const now = deps.now?.() ?? Date.now();
  const report: SweepReport = { checked: 0, removed: [], foreign: [] };
  for await (const page of deps.pages) {
    const candidates: string[] = [];
    for (const key of page) {
      report.checked += 1;
      const id = key.startsWith(PREFIX) ? key.slice(PREFIX.length) : '';
      if (!isId(id)) {
        report.foreign.push(key);
        continue;
      }
      if (now - timeOf(id).getTime() >= deps.olderThanMs) candidates.push(id);
    }
    if (candidates.length === 0) continue;
    const existing = await deps.existing(candidates);
    for (const id of candidates) {
      if (existing.has(id)) continue;
      if (!deps.dryRun) await deps.remove(`${PREFIX}${id}`);
      report.removed.push(`${PREFIX}${id}`);
    }
  }
  return report;
}
