import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { shutdownTelemetry, startTelemetry, withSpan } from '../src/index.ts';

test('spans are exported over OTLP/HTTP when an endpoint is configured', async (t) => {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  startTelemetry({ serviceName: 'otlp-test', otlpEndpoint: `http://127.0.0.1:${port}` });
  await withSpan('exported', () => 1);
  await shutdownTelemetry(); // flushes the batch
  server.close();
  t.deepEqual(paths, ['POST /v1/traces']);
});
