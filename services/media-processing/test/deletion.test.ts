import { createEvent } from '@instantpost/events';
import { createIdGenerator, formatId } from '@instantpost/ids';
import test from 'ava';
import { type Fixture, openFixture, plainImage, waitFor } from './helpers.ts';

let fx: Fixture;

test.before(async () => {
  fx = await openFixture();
});
test.after.always(async () => {
  await fx?.close();
});

const postDeleted = (mediaId: string, ownerId: string) =>
  createEvent('post.deleted', { postId: mediaId, authorId: ownerId }, { source: '/instantpost/metadata' });

async function processedMedia() {
  const uploaded = await fx.upload(await plainImage(800, 600, 'jpeg'));
  await fx.publishUploaded(uploaded);
  await fx.waitForEvent('media.processed', uploaded.data.mediaId);
  return uploaded;
}

test('post.deleted removes every rendition of the post from S3; a duplicate event is harmless', async (t) => {
  const uploaded = await processedMedia();
  const { mediaId, ownerId } = uploaded.data;
  t.is((await fx.renditionKeys(mediaId)).length, 8, 'eight renditions before the delete');
  const other = await processedMedia();

  // The same deletion twice under different event ids (metadata's relay retried, an operator replayed it).
  await fx.publisher.publish(postDeleted(mediaId, ownerId));
  await fx.publisher.publish(postDeleted(mediaId, ownerId));
  await waitFor('the renditions to be gone from S3', async () =>
    (await fx.renditionKeys(mediaId)).length === 0 ? true : undefined,
  );
  await waitFor('the media to be marked deleted', async () =>
    (await fx.manifest.find(mediaId))?.deletedAt ? true : undefined,
  );

  t.is((await fx.renditionKeys(other.data.mediaId)).length, 8, "another post's renditions stay");
  t.deepEqual(
    (await fx.deadLetters()).filter((l) => JSON.stringify(l).includes(mediaId)),
    [],
    'no dead letter',
  );
});

test('a deleted media is never rendered again: a redelivered media.uploaded writes nothing', async (t) => {
  const uploaded = await processedMedia();
  const { mediaId, ownerId } = uploaded.data;
  await fx.publisher.publish(postDeleted(mediaId, ownerId));
  await waitFor('the media to be marked deleted', async () =>
    (await fx.manifest.find(mediaId))?.deletedAt ? true : undefined,
  );
  await waitFor('the renditions to be gone from S3', async () =>
    (await fx.renditionKeys(mediaId)).length === 0 ? true : undefined,
  );

  await fx.publishUploaded(uploaded); // a new event id: not dropped as a duplicate
  const record = await waitFor('the processing attempt to be recorded', async () => {
    const r = await fx.manifest.find(mediaId);
    return r && r.attempts >= 2 ? r : undefined;
  });
  t.truthy(record.deletedAt);
  t.deepEqual(await fx.renditionKeys(mediaId), [], 'nothing rendered again');
});

test('post.deleted for media this service never saw is acknowledged without a dead letter', async (t) => {
  const ids = createIdGenerator(3);
  const mediaId = formatId(ids.next());
  await fx.publisher.publish(postDeleted(mediaId, formatId(ids.next())));
  // Handled when a later deletion of a known media has been (one consumer, in stream order per replica).
  const known = await processedMedia();
  await fx.publisher.publish(postDeleted(known.data.mediaId, known.data.ownerId));
  await waitFor('the renditions to be gone from S3', async () =>
    (await fx.renditionKeys(known.data.mediaId)).length === 0 ? true : undefined,
  );
  t.is(await fx.manifest.find(mediaId), undefined);
  t.deepEqual(
    (await fx.deadLetters()).filter((l) => JSON.stringify(l).includes(mediaId)),
    [],
  );
});
