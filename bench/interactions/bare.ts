/**
 * The baseline behind the gateway: bare Fastify answering the interaction routes (and the health checks the
 * gateway waits for) with no work, so a second nginx rendered from the same template can proxy every
 * service's paths to it. Prints `{"port":N}` once listening; exits on SIGTERM or the end of stdin.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/healthz', async () => ({ status: 'ok' }));
app.get('/readyz', async () => ({ status: 'ok' }));
app.post('/v1/posts/:id/likes', async (_req, reply) => reply.code(204).send());
app.delete('/v1/posts/:id/likes', async (_req, reply) => reply.code(204).send());
app.post('/v1/posts/:id/comments', async (_req, reply) => reply.code(201).send({ id: '1', text: 'bare' }));
app.post('/v1/users/:id/follow', async () => ({ state: 'following' }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
);
const stop = () => {
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.stdin.once('end', stop);
process.stdin.resume();
