import test from 'ava';
import { connect, StorageType } from 'nats';
import { startPrivateNats } from '../src/index.ts';

test('a private NATS server restarts on the same port with its JetStream store intact', async (t) => {
  const nats = await startPrivateNats();
  t.teardown(() => nats.stop());
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  t.teardown(() => nc.close());
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'], storage: StorageType.File });
  await nc.jetstream().publish('keep.one', new TextEncoder().encode('before the restart'));

  const reconnected = (async () => {
    for await (const status of nc.status()) if (status.type === 'reconnect') return;
  })();
  await nats.restart();
  await reconnected;

  // The same client reconnected by itself and finds the stream and its message.
  const info = await (await nc.jetstreamManager()).streams.info('KEEP');
  t.is(info.state.messages, 1);
  const ack = await nc.jetstream().publish('keep.two', new TextEncoder().encode('after'));
  t.is(ack.seq, 2);
});
