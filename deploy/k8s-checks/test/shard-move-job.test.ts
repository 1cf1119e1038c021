import test from 'ava';
import { formatFindings, renderWithComponent, validateSchemas } from '../src/index.ts';
import { find, manifestFindings, OVERLAYS, render } from './helpers.ts';

for (const overlay of OVERLAYS) {
  test(`${overlay} with components/shard-move: one Job runs the mover, with the setup user and its Secret`, (t) => {
    const objects = renderWithComponent(overlay, 'shard-move');
    t.is(formatFindings(validateSchemas(objects)), '');
    t.is(formatFindings(manifestFindings(overlay, objects)), '', 'images, env vars and secret keys agree');
    const job = find(objects, 'Job', 'shard-move');
    const pod = job.spec.template.spec;
    const move = pod.containers.find((c: { name: string }) => c.name === 'move');
    t.deepEqual(move.args.slice(0, 5), [
      'node',
      '/app/libs/shards/src/cli.ts',
      'move',
      '$(SHARD)',
      '$(TARGET_URL)',
    ]);
    const env = new Map(move.env.map((e: { name: string; valueFrom?: unknown }) => [e.name, e.valueFrom]));
    // dev generates the setup user's Secret (a hashed name), prod expects it from the operator.
    const natsUser = (env.get('NATS_USER') as { secretKeyRef: { name: string; key: string } }).secretKeyRef;
    t.regex(natsUser.name, /^instantpost-nats-setup(-[a-z0-9]+)?$/);
    t.is(natsUser.key, 'NATS_USER');
    t.deepEqual(env.get('TARGET_URL'), {
      secretKeyRef: { name: 'instantpost-shard-move', key: 'TARGET_URL' },
    });
    t.is(
      job.spec.template.metadata.labels['app.kubernetes.io/component'],
      'setup',
      'the setup Jobs’ network policies',
    );
    // Nothing else changes.
    const others = (list: typeof objects) =>
      list
        .filter((o) => !(o.kind === 'Job' && o.metadata?.name === 'shard-move'))
        .map((o) => JSON.stringify(o));
    t.deepEqual(others(objects), others(render(overlay)));
  });
}
