/**
 * BENCHMARKS.md is written by `npm run bench` from the saved runs, but people add to it by hand too: figures
 * of a benchmark run directly (not through `npm run bench`), and notes on what a run shows. Rewriting the
 * file must not lose them. Rules: a benchmark that did not run now keeps its section exactly as the file has
 * it; one that ran gets its new table, followed by whatever its old section held below a `<!-- kept -->` line
 * (that line included).
 */

/** The line below which a section's hand-written text survives a new run of its benchmark. */
export const KEPT_MARKER = '<!-- kept -->';

/** The `## <bench>` sections of a BENCHMARKS.md, by bench name, each from its heading to the next one. */
export function sectionsOf(markdown: string): Map<string, string> {
  const sections = new Map<string, string>();
  for (const part of markdown.split(/^(?=## )/m)) {
    const heading = /^## (\S+)/.exec(part);
    if (heading?.[1]) sections.set(heading[1], part.replace(/\s+$/, ''));
  }
  return sections;
}

/** The kept part of a section: from its `<!-- kept -->` line to its end ('' when it has none). */
export function keptPart(section: string): string {
  const at = section.search(new RegExp(`^${KEPT_MARKER}$`, 'm'));
  return at < 0 ? '' : section.slice(at).replace(/\s+$/, '');
}

/**
 * The sections of the new file, in `order`: `generated` (bench → its section from the newest saved run)
 * for the benchmarks that ran now, with their kept parts appended; the old file's section for every other
 * benchmark it has; the generated one for a benchmark the old file lacks.
 */
export function mergeSections(
  order: readonly string[],
  previous: ReadonlyMap<string, string>,
  generated: ReadonlyMap<string, string>,
  ranNow: ReadonlySet<string>,
): string[] {
  const out: string[] = [];
  for (const bench of order) {
    const old = previous.get(bench);
    const fresh = generated.get(bench);
    if (old !== undefined && !ranNow.has(bench)) out.push(old);
    else if (fresh !== undefined) {
      const kept = old === undefined ? '' : keptPart(old);
      out.push(kept ? `${fresh.replace(/\s+$/, '')}\n\n${kept}` : fresh.replace(/\s+$/, ''));
    }
  }
  return out;
}
