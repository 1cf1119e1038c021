import { openServiceContext } from '@instantpost/chassis';
import { isId } from '@instantpost/ids';
import { configureSharp, processDeps } from './app.ts';
import { configSpec } from './config.ts';
import { reprocessMedia } from './domain/reprocess.ts';

// Operator command: re-process originals by media id, with the service's own environment.
//   npm run reprocess -w @instantpost/media-processing -- <mediaId> [<mediaId> ...]
// Prints one JSON line per media; exits 1 if any failed.

const ids = process.argv.slice(2).filter((arg) => arg !== '--');
if (ids.length === 0 || !ids.every(isId)) {
  process.stderr.write(
    'usage: npm run reprocess -w @instantpost/media-processing -- <mediaId> [<mediaId> ...]\n',
  );
  process.exit(2);
}

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
