/**
 * Operator command: delete originals that have no upload row (left by a process killed between storing a
 * photo and committing its row). Reads the same environment as the service.
 *
 *   npm run sweep -w @instantpost/upload -- [--older-than-minutes 60] [--dry-run]   (--help: the usage)
 *
 * Safe to run at any time and from several places at once: originals younger than the threshold are
 * never touched, and a row is looked up before its original is deleted.
 */
import { chassisSpec } from '@instantpost/chassis';
import { loadConfig } from '@instantpost/config';
import { exitUsage, parseCommand } from '@instantpost/config/cli';
import { createShards } from '@instantpost/shards';
import { createS3Client } from '@instantpost/storage';
import { configSpec } from './config.ts';
import { sweepOrphanOriginals } from './domain/sweep.ts';
import { originalStore } from './store/originals.ts';
import { uploadStore } from './store/uploads.ts';

const COMMAND = {
  name: 'npm run sweep -w @instantpost/upload --',
  synopsis: '[--older-than-minutes <minutes>] [--dry-run]',
  summary: 'Deletes originals that have no upload row; prints a JSON report.',
  options: {
    'older-than-minutes': {
      type: 'string',
      default: '60',
      value: 'minutes',
      description: 'only originals older than this (at least 5)',
    },
    'dry-run': {
      type: 'boolean',
      default: false,
      description: 'report what would be deleted, delete nothing',
    },
  },
} as const;

const { values } = parseCommand(COMMAND);
const minutes = Number(values['older-than-minutes']);
if (!Number.isFinite(minutes) || minutes < 5) {
  exitUsage(COMMAND, '--older-than-minutes must be a number of at least 5');
}

const config = loadConfig({ ...chassisSpec('upload'), ...configSpec });
const shards = createShards({ service: 'upload', map: config.shardMap, poolMax: 2 });
const s3 = createS3Client(config);
try {
  const originals = originalStore(s3, config.s3Bucket);
  const uploads = uploadStore(shards);
  const report = await sweepOrphanOriginals({
    pages: originals.keyPages(),
    existing: (ids) => uploads.existingUploadIds(ids),
    remove: (key) => originals.delete(key),
    olderThanMs: minutes * 60_000,
    dryRun: values['dry-run'],
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  s3.destroy();
  await shards.close();
}
