/**
 * The S3 emulator (s3rver) as its own process, so the photo traffic it serves runs with the servers on
 * CPU 0 instead of inside the load generator (libs/testing starts it in-process unless TEST_S3_ENDPOINT is
 * set). Prints `{"port":N}` once listening; stops on SIGTERM and removes its directory.
 */
/// <reference path="../../libs/testing/src/s3rver.d.ts" />
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

const directory = mkdtempSync(join(tmpdir(), 'instantpost-bench-s3-'));
const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true });
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
// SIGTERM from the benchmark, or the end of stdin when the benchmark died.
const stop = () => {
  void server.close().finally(() => {
    rmSync(directory, { recursive: true, force: true });
    process.exit(0);
  });
};
process.once('SIGTERM', stop);
process.stdin.once('end', stop);
process.stdin.resume();
