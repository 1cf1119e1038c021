/**
 * The S3 emulator (s3rver) as a process of its own, so the stack can run it below the read path
 * (S3_EMULATOR_PRIORITY): `node --import tsx s3-process.ts <directory> <port> [--temporary]`. Port 0 picks a
 * free one. Prints `{"port":N}` once listening; stops on SIGTERM or at the end of stdin (its parent died),
 * and with `--temporary` removes its directory then (benchmarks).
 */
/// <reference path="../../../libs/testing/src/s3rver.d.ts" />
import { mkdirSync, rmSync } from 'node:fs';
import S3rver from 's3rver';

const [directory, portArg, flag] = process.argv.slice(2);
if (!directory || portArg === undefined || !/^\d+$/.test(portArg))
  throw new Error('usage: s3-process.ts <directory> <port> [--temporary]');
mkdirSync(directory, { recursive: true });
const server = new S3rver({ port: Number(portArg), address: '127.0.0.1', directory, silent: true });
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
const stop = () => {
  void server.close().finally(() => {
    if (flag === '--temporary') rmSync(directory, { recursive: true, force: true });
    process.exit(0);
  });
};
process.once('SIGTERM', stop);
process.stdin.once('end', stop);
process.stdin.resume();
