/** Helper processes of the benchmark (S3 emulator, baseline server): started with tsx, report their port. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type HelperProcess, startHelperProcess } from '../../deploy/local/src/helper-process.ts';
import { type S3Emulator, startS3Emulator } from '../../deploy/local/src/s3.ts';

/**
 * The S3 emulator as the local stack runs it (its own process, below the read path: S3_EMULATOR_PRIORITY),
 * in a directory of its own that goes with it.
 */
export function startS3(): Promise<S3Emulator> {
  return startS3Emulator({
    directory: mkdtempSync(join(tmpdir(), 'instantpost-bench-s3-')),
    port: 0,
    temporary: true,
  });
}

export type Helper = HelperProcess;

/** A helper script of bench/system (path relative to this file), started with tsx. */
export function startHelper(script: string): Promise<Helper> {
  return startHelperProcess(fileURLToPath(new URL(script, import.meta.url)));
}
