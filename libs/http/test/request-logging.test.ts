import { Writable } from 'node:stream';
import { createLogger } from '@instantpost/telemetry';
import test from 'ava';
import { createHttpApp } from '../src/index.ts';
import { LazyChildLogger } from '../src/lazy-logger.ts';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  password?: string;
}

/** An app at `level` whose log lines are kept; /v1/work logs a line of its own, /v1/boom fails. */
async function loggedApp(level: string) {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  const app = await createHttpApp({
    service: 'probe',
    logger: createLogger({ service: 'probe', level, destination }),
    readiness: {},
  });
  const quietLoggers: unknown[] = [];
  app.get('/v1/quiet', async (request) => {
    quietLoggers.push(request.log);
    return { ok: true };
  });
  app.get('/v1/hushed', { logLevel: 'warn' }, async (request) => {
    request.log.info('hushed info');
    request.log.warn('hushed warning');
    return { ok: true };
  });
  app.get('/v1/work', async (request) => {
    request.log.info({ password: 'hunter22' }, 'route line');
    return { ok: true };
  });
  app.get('/v1/boom', async () => {
    throw new Error('disk on fire');
  });
  await app.ready();
  const get = (url: string, id: string) =>
    app.inject({ method: 'GET', url, headers: { 'x-request-id': id } });
  return { app, lines, get, quietLoggers };
}

test('at info a request writes no line of its own: what a route logs and failures still show, with the request id', async (t) => {
  const { app, lines, get } = await loggedApp('info');
  t.teardown(() => app.close());
  t.is((await get('/v1/quiet', 'req-q')).statusCode, 200);
  t.deepEqual(lines, [], 'no "incoming request" / "request completed" pair');
  await get('/v1/work', 'req-w');
  t.is((await get('/v1/boom', 'req-b')).statusCode, 500);
  t.deepEqual(
    lines.map((l) => [l.msg, l.reqId]),
    [
      ['route line', 'req-w'],
      ['request failed', 'req-b'],
    ],
  );
  t.is(lines[0]?.password, '[redacted]');
});

test('at debug each request writes its pair of lines with its id', async (t) => {
  const { app, lines, get } = await loggedApp('debug');
  t.teardown(() => app.close());
  await get('/v1/quiet', 'req-q');
  t.deepEqual(
    lines.map((l) => [l.msg, l.reqId]),
    [
      ['incoming request', 'req-q'],
      ['request completed', 'req-q'],
    ],
  );
});

test("a request that logs nothing never makes its logger; a route's own level still holds for the lines it logs", async (t) => {
  const { app, lines, get, quietLoggers } = await loggedApp('info');
  t.teardown(() => app.close());
  await get('/v1/quiet', 'req-q');
  const [logger] = quietLoggers;
  t.true(logger instanceof LazyChildLogger);
  t.false((logger as LazyChildLogger).made, 'no pino child for a request that did not log');
  await get('/v1/hushed', 'req-h');
  t.deepEqual(
    lines.map((l) => [l.msg, l.reqId]),
    [['hushed warning', 'req-h']],
  );
});
