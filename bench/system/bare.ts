/**
 * The baseline: a bare Fastify route (`GET /bare`, a small JSON body) in its own process, pinned to CPU 0
 * like the services. Prints `{"port":N}` once listening; exits on SIGTERM.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
const body = { items: [], nextCursor: null };
app.get('/bare', async () => body);
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
);
// SIGTERM from the benchmark, or the end of stdin when the benchmark died.
const stop = () => {
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.stdin.once('end', stop);
process.stdin.resume();
