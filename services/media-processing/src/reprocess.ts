import { openServiceContext } from '@instantpost/chassis';
import { exitUsage, parseCommand } from '@instantpost/config/cli';
import { isId } from '@instantpost/ids';
import { processDeps } from './app.ts';
import { configSpec } from './config.ts';
import { configureSharp } from './domain/image.ts';
import { reprocessMedia } from './domain/reprocess.ts';

// Operator command: re-process originals by media id, with the service's own environment.
//   npm run reprocess -w @instantpost/media-processing -- <mediaId> [<mediaId> ...]
// Prints one JSON line per media; exits 1 if any failed, 2 on misuse; --help prints the usage.

const COMMAND = {
  name: 'npm run reprocess -w @instantpost/media-processing --',
  synopsis: '<mediaId> [<mediaId> ...]',
  summary:
    'Re-processes originals by media id (renditions, blurhash, media.processed), one JSON line per media.',
  positionals: true,
  options: {},
  notes: 'exit status: 0 every media processed or rejected, 1 one failed, 2 misuse',
} as const;

const { positionals: ids } = parseCommand(COMMAND);
if (ids.length === 0) exitUsage(COMMAND, 'name at least one media id');
const notIds = ids.filter((id) => !isId(id));
if (notIds.length > 0) exitUsage(COMMAND, `not media ids: ${notIds.join(', ')}`);

const { config, infra, logger } = await openServiceContext(
  'media-processing',
  configSpec,
  new URL('./sql/migrations/', import.meta.url),
);
configureSharp();
const deps = processDeps({ config, infra, logger });
let failed = 0;
for (const mediaId of ids) {
  try {
    const outcome = await reprocessMedia(deps, mediaId);
    const detail =
      outcome.status === 'processed'
        ? { renditions: outcome.data.renditions.map((r) => r.key) }
        : outcome.status === 'rejected'
          ? { reason: outcome.reason }
          : {};
    process.stdout.write(`${JSON.stringify({ mediaId, status: outcome.status, ...detail })}\n`);
  } catch (err) {
    failed++;
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    process.stdout.write(`${JSON.stringify({ mediaId, status: 'failed', error: message })}\n`);
  }
}
deps.close();
await infra.close();
process.exit(failed > 0 ? 1 : 0);
