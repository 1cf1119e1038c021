import { randomUUID } from 'node:crypto';
import { createPublisher, dlqSubjectFor, type Publisher, parseDeadLetter } from '@instantpost/bus';
import { createEvent, type EventData } from '@instantpost/events';
import { encode, formatId } from '@instantpost/ids';
import { stopTestInfra } from '@instantpost/testing';
import test from 'ava';
import type { Subscription } from 'nats';
import { type Fixture, listKeys, makeImage, openFixture, photo, upload, userOn, waitFor } from './helpers.ts';

let fx: Fixture;
let publisher: Publisher;
let dlq: Subscription;
const deadLetters: ReturnType<typeof parseDeadLetter>[] = [];

test.before(async () => {
  fx = await openFixture();
  publisher = createPublisher({ nc: fx.svc.infra.nc, prefix: fx.ns.nats.prefix });
  dlq = fx.svc.infra.nc.subscribe(`${fx.ns.nats.prefix}.dlq.>`);
  void (async () => {
    for await (const msg of dlq) deadLetters.push(parseDeadLetter(msg.data));
  })();
});
test.after.always(async () => {
  dlq?.unsubscribe();
  await fx?.close();
  await stopTestInfra();
});

type User = { id: string; username: string };

async function newUpload(owner: User): Promise<string> {
  const res = await upload(fx.svc, fx.keys, owner, [photo(await makeImage('jpeg'))]);
  if (res.statusCode !== 202) throw new Error(`upload failed: ${res.statusCode} ${res.body}`);
  return res.json<{ id: string }>().id;
}

async function statusOf(id: string, as: User) {
  const res = await fx.svc.app.inject({
    url: `/v1/media/${id}/status`,
    headers: { authorization: `Bearer ${fx.keys.tokenFor(as)}` },
  });
  return { code: res.statusCode, body: res.json<{ id: string; status: string; reason?: string }>() };
}

/** Waits until the upload shows `status` (the consumer works asynchronously). */
function until(id: string, owner: User, status: string) {
  return waitFor(`${id} to become ${status}`, async () => {
    const s = await statusOf(id, owner);
    return s.body.status === status ? s.body : undefined;
  });
}

/** Whether the status consumer has handled (and committed) the event with this id, on the media's shard. */
function handled(eventId: string, mediaId: string) {
  const shard = fx.svc.infra.shards.forId(mediaId);
  return waitFor(`event ${eventId} to be handled`, async () => {
    const rows = await shard.sql`
      SELECT 1 FROM ${shard.table('inbox')} WHERE consumer = 'upload-media-status' AND event_id = ${eventId}`;
    return rows.length === 1;
  });
}

const rejected = (data: EventData<'media.rejected'>, id: string = randomUUID()) =>
  createEvent('media.rejected', data, { source: '/instantpost/media-processing', id });

function published(mediaId: string, authorId: string) {
  return createEvent(
    'post.published',
    {
      postId: mediaId,
      mediaId,
      authorId,
      createdAt: new Date().toISOString(),
      caption: '',
      hashtags: [],
      mentions: [],
      media: {
        width: 64,
        height: 48,
        blurhash: 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
        renditions: [{ name: '320', width: 64, height: 48, format: 'jpeg', key: `media/${mediaId}/320.jpg` }],
      },
    },
    { source: '/instantpost/metadata' },
  );
}

test('a new upload is processing; media.rejected makes it rejected with the reason', async (t) => {
  const owner = userOn(2);
  const id = await newUpload(owner);
  t.deepEqual((await statusOf(id, owner)).body, { id, status: 'processing' });
  await publisher.publish(
    rejected({ mediaId: id, ownerId: owner.id, reason: 'the image could not be decoded' }),
  );
  t.deepEqual(await until(id, owner, 'rejected'), {
    id,
    status: 'rejected',
    reason: 'the image could not be decoded',
  });
});

test('post.published makes the upload published, and a later rejection does not take it back', async (t) => {
  const owner = userOn(13);
  const id = await newUpload(owner);
  await publisher.publish(published(id, owner.id));
  t.deepEqual(await until(id, owner, 'published'), { id, status: 'published' });
  const late = rejected({ mediaId: id, ownerId: owner.id, reason: 'late' });
  await publisher.publish(late);
  await handled(late.id, id);
  t.deepEqual((await statusOf(id, owner)).body, { id, status: 'published' });
});

test('only the owner sees the status: anyone else, an unknown id and a bad id get 404 / 400', async (t) => {
  const owner = userOn(5);
  const id = await newUpload(owner);
  t.is((await statusOf(id, userOn(5))).code, 404);
  t.is((await statusOf(id, userOn(8))).code, 404);
  t.is((await statusOf('237619391045306369', owner)).code, 404);
  const bad = await statusOf('12ab', owner);
  t.is(bad.code, 400);
  t.like(bad.body, { field: 'id' });
  const anonymous = await fx.svc.app.inject({ url: `/v1/media/${id}/status` });
  t.is(anonymous.statusCode, 401);
});

test('a duplicate event (same id) is applied once: its replay with other data changes nothing', async (t) => {
  const owner = userOn(10);
  const id = await newUpload(owner);
  const eventId = randomUUID();
  await publisher.publish(rejected({ mediaId: id, ownerId: owner.id, reason: 'first' }, eventId));
  await until(id, owner, 'rejected');
  // the same event id again, as a replay past the duplicate window would bring it (a core publish,
  // without Nats-Msg-Id, so the stream stores it again): the inbox skips it
  const replay = rejected({ mediaId: id, ownerId: owner.id, reason: 'second' }, eventId);
  const ack = await fx.svc.infra.js.publish(`${fx.ns.nats.prefix}.media.rejected`, JSON.stringify(replay));
  t.false(ack.duplicate, 'the stream stored the replay: only the inbox stands between it and the row');
  // every event up to the replay acknowledged by the consumer
  await waitFor('the replay to be acknowledged', async () => {
    const info = await fx.svc.infra.jsm.consumers.info(ack.stream, 'upload-media-status');
    return info.ack_floor.stream_seq >= ack.seq;
  });
  t.deepEqual((await statusOf(id, owner)).body, { id, status: 'rejected', reason: 'first' });
});

test('malformed events are dead-lettered with the reason, and the next event is still handled', async (t) => {
  const owner = userOn(6);
  const id = await newUpload(owner);
  const subject = `${fx.ns.nats.prefix}.media.rejected`;
  const marker = randomUUID();
  const invalid = { ...rejected({ mediaId: id, ownerId: owner.id, reason: 'x' }), data: { mediaId: 42 } };
  await fx.svc.infra.js.publish(subject, `this is not json ${marker}`);
  await fx.svc.infra.js.publish(subject, JSON.stringify(invalid));
  const mine = () =>
    deadLetters.filter((l) => {
      const text = JSON.stringify(l.event ?? '');
      return text.includes(marker) || text.includes(invalid.id);
    });
  const letters = await waitFor('two dead letters', () => (mine().length >= 2 ? mine() : undefined));
  t.deepEqual(letters.map((l) => l.error.code).sort(), ['BAD_JSON', 'SCHEMA_VIOLATION']);
  t.true(letters.every((l) => l.consumer === 'upload-media-status' && l.subject === 'media.rejected'));
  t.is(dlqSubjectFor('media.rejected', fx.ns.nats.prefix), `${fx.ns.nats.prefix}.dlq.media.rejected`);
  // the malformed ones changed nothing; a valid one afterwards is handled
  t.is((await statusOf(id, owner)).body.status, 'processing');
  await publisher.publish(rejected({ mediaId: id, ownerId: owner.id, reason: 'corrupt file' }));
  t.like(await until(id, owner, 'rejected'), { reason: 'corrupt file' });
});

test('an event about media that was never uploaded, or with the wrong owner, is acknowledged and changes nothing', async (t) => {
  const owner = userOn(1);
  const id = await newUpload(owner);
  const notYours = rejected({ mediaId: id, ownerId: userOn(1).id, reason: 'not yours' });
  const nobody = rejected({ mediaId: '237619391045306369', ownerId: owner.id, reason: 'nobody' });
  await publisher.publish(notYours);
  await publisher.publish(nobody);
  await handled(notYours.id, id);
  await handled(nobody.id, nobody.data.mediaId);
  t.deepEqual(
    (await statusOf(id, owner)).body,
    { id, status: 'processing' },
    'the wrong owner changed nothing',
  );
  t.false(
    deadLetters.some((l) => l.event && JSON.stringify(l.event).includes(notYours.id)),
    'not dead-lettered',
  );
  await publisher.publish(published(id, owner.id));
  t.deepEqual(await until(id, owner, 'published'), { id, status: 'published' });
});

test('the bytes of a rejected photo can be uploaded again: a new media, deduped again while it is live', async (t) => {
  const owner = userOn(9);
  const image = await makeImage('png');
  const first = await upload(fx.svc, fx.keys, owner, [photo(image, 'a.png', 'image/png')]);
  const id = first.json<{ id: string }>().id;
  await publisher.publish(rejected({ mediaId: id, ownerId: owner.id, reason: 'not safe' }));
  await until(id, owner, 'rejected');
  const again = await upload(fx.svc, fx.keys, owner, [photo(image, 'b.png', 'image/png')]);
  t.is(again.statusCode, 202);
  const second = again.json<{ id: string; status: string; duplicate?: boolean }>();
  t.not(second.id, id, 'a new media, not the rejected one');
  t.deepEqual(second, { id: second.id, status: 'processing' });
  const third = await upload(fx.svc, fx.keys, owner, [photo(image, 'c.png', 'image/png')]);
  t.deepEqual(third.json(), { id: second.id, status: 'processing', duplicate: true }, 'the live one dedupes');
  t.deepEqual((await statusOf(id, owner)).body, { id, status: 'rejected', reason: 'not safe' });
});

test('post.deleted: the upload is gone (404), its original deleted, and the same bytes become a new media; duplicates are harmless', async (t) => {
  const owner = userOn(4);
  const image = await makeImage('jpeg');
  const first = await upload(fx.svc, fx.keys, owner, [photo(image)]);
  const id = first.json<{ id: string }>().id;
  await publisher.publish(published(id, owner.id));
  await until(id, owner, 'published');
  t.deepEqual(await listKeys(fx.s3, fx.ns.s3.bucket, `originals/${id}`), [`originals/${id}`]);

  const deletions = [1, 2].map(() =>
    createEvent('post.deleted', { postId: id, authorId: owner.id }, { source: '/instantpost/metadata' }),
  );
  for (const d of deletions) await publisher.publish(d);
  for (const d of deletions) await handled(d.id, id);
  t.is((await statusOf(id, owner)).code, 404, 'a deleted post’s upload is not shown');
  t.deepEqual(await listKeys(fx.s3, fx.ns.s3.bucket, `originals/${id}`), [], 'the original is deleted');

  // A post.published arriving late (reordered) does not bring it back.
  const late = published(id, owner.id);
  await publisher.publish(late);
  await handled(late.id, id);
  t.is((await statusOf(id, owner)).code, 404);

  const again = await upload(fx.svc, fx.keys, owner, [photo(image)]);
  t.is(again.statusCode, 202);
  const next = again.json<{ id: string; status: string }>();
  t.not(next.id, id);
  t.deepEqual(next, { id: next.id, status: 'processing' });
  t.deepEqual(
    deadLetters.filter((l) => JSON.stringify(l).includes(id)),
    [],
  );
});

test('an event whose media id belongs to a shard outside the map is dead-lettered at once, not retried', async (t) => {
  const outside = formatId(encode({ time: Date.now(), shard: 100, sequence: 1 }));
  const event = rejected({ mediaId: outside, ownerId: userOn(1).id, reason: 'elsewhere' });
  await publisher.publish(event);
  const letter = await waitFor('the dead letter', () =>
    deadLetters.find((l) => JSON.stringify(l.event ?? '').includes(event.id)),
  );
  t.is(letter.error.code, 'BUS_NON_RETRYABLE');
  t.is(letter.deliveries, 1);
});
