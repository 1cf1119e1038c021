import test from 'ava';
import {
  type AnyCloudEvent,
  createEvent,
  EVENT_SUBJECTS,
  EventError,
  type EventErrorCode,
  EventErrorCodes,
  parseEvent,
} from '../src/index.ts';

const like = () =>
  createEvent(
    'like.created',
    { postId: '3379190954632511489', postAuthorId: '3379187474022400001', userId: '3379188132511793154' },
    { source: '/test' },
  );

test('createEvent builds a CloudEvents 1.0 envelope', (t) => {
  const event = like();
  t.is(event.specversion, '1.0');
  t.is(event.type, 'like.created');
  t.is(event.datacontenttype, 'application/json');
  t.regex(event.id, /^[0-9a-f-]{36}$/);
  t.false(Number.isNaN(Date.parse(event.time)));
  t.not(like().id, event.id, 'every event gets its own id');
});

test('createEvent keeps a given id and time', (t) => {
  const event = createEvent(
    'post.deleted',
    { postId: '1', authorId: '2' },
    { source: '/test', id: 'abc', time: new Date('2026-01-02T03:04:05Z') },
  );
  t.is(event.id, 'abc');
  t.is(event.time, '2026-01-02T03:04:05.000Z');
});

test('createEvent refuses invalid data with the path of the field', (t) => {
  const error = t.throws(
    () =>
      createEvent('like.created', { postId: '12', postAuthorId: 'abc', userId: '1' }, { source: '/test' }),
    { instanceOf: EventError },
  );
  t.is(error?.code, EventErrorCodes.SchemaViolation);
  t.is(error?.path, '/data/postAuthorId');
});

test('a created event round-trips through bytes', (t) => {
  const event = like();
  const result = parseEvent(new TextEncoder().encode(JSON.stringify(event)));
  t.true(result.ok);
  if (result.ok) t.deepEqual(result.event, event);
});

test('the parsed union narrows on type', (t) => {
  const result = parseEvent(JSON.stringify(like()));
  if (!result.ok) return t.fail(result.error.message);
  const event: AnyCloudEvent = result.event;
  if (event.type === 'like.created') t.is(event.data.userId, '3379188132511793154');
  else t.fail('wrong type');
});

const failures: Array<[string, string | Uint8Array, EventErrorCode, string]> = [
  ['empty', '', EventErrorCodes.BadJson, ''],
  ['truncated JSON', '{"specversion":"1.0"', EventErrorCodes.BadJson, ''],
  ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), EventErrorCodes.BadJson, ''],
  ['a JSON array', '[1,2]', EventErrorCodes.NotCloudEvent, ''],
  [
    'no specversion',
    '{"id":"1","source":"/x","type":"like.created"}',
    EventErrorCodes.NotCloudEvent,
    '/specversion',
  ],
  [
    'specversion 0.3',
    '{"specversion":"0.3","id":"1","source":"/x","type":"like.created"}',
    EventErrorCodes.NotCloudEvent,
    '/specversion',
  ],
  [
    'unknown type',
    '{"specversion":"1.0","id":"1","source":"/x","type":"like.exploded","time":"2026-01-01T00:00:00Z","data":{}}',
    EventErrorCodes.UnknownType,
    '/type',
  ],
];
for (const [label, input, code, path] of failures) {
  test(`refuses ${label} as ${code}`, (t) => {
    const result = parseEvent(input);
    if (result.ok) return t.fail('parsed');
    t.is(result.error.code, code);
    t.is(result.error.path, path);
    t.true(result.error.message.length > 0);
  });
}

test('a schema violation names the JSON path and keeps the parsed payload', (t) => {
  const event = { ...like(), data: { postId: '1', postAuthorId: '2' } };
  const result = parseEvent(JSON.stringify(event));
  if (result.ok) return t.fail('parsed');
  t.is(result.error.code, EventErrorCodes.SchemaViolation);
  t.is(result.error.path, '/data/userId');
  t.regex(result.error.message, /\/data\/userId/);
  t.deepEqual(result.payload, event, 'the DLQ can carry the original event');
});

test('ids must be decimal strings, never numbers', (t) => {
  const event = { ...like(), data: { postId: 12345, postAuthorId: '2', userId: '3' } };
  const result = parseEvent(JSON.stringify(event));
  t.false(result.ok);
  if (!result.ok) t.is(result.error.path, '/data/postId');
});

test('strings are bounded', (t) => {
  const base = createEvent(
    'comment.created',
    { commentId: '1', postId: '2', postAuthorId: '3', userId: '4', text: 'hi', mentions: [] },
    { source: '/t' },
  );
  const result = parseEvent(JSON.stringify({ ...base, data: { ...base.data, text: 'x'.repeat(2201) } }));
  t.false(result.ok);
  if (!result.ok) t.is(result.error.path, '/data/text');
});

test('expectedType refuses an event published on another subject', (t) => {
  const result = parseEvent(JSON.stringify(like()), { expectedType: 'post.published' });
  if (result.ok) return t.fail('parsed');
  t.is(result.error.code, EventErrorCodes.TypeMismatch);
});

test('time is required and must be RFC 3339', (t) => {
  const { time: _time, ...noTime } = like();
  const missing = parseEvent(JSON.stringify(noTime));
  t.false(missing.ok);
  if (!missing.ok) t.is(missing.error.path, '/time');
  const bad = parseEvent(JSON.stringify({ ...like(), time: 'yesterday' }));
  t.false(bad.ok);
});

test('unknown extension attributes and data fields are tolerated (forward compatible)', (t) => {
  const event = { ...like(), partitionkey: 'p', data: { ...like().data, newField: 1 } };
  t.true(parseEvent(JSON.stringify(event)).ok);
});

test('the contract map covers every subject of the API event table', (t) => {
  t.deepEqual([...EVENT_SUBJECTS].sort(), [
    'account.created',
    'account.updated',
    'comment.created',
    'follow.approved',
    'follow.created',
    'follow.deleted',
    'like.created',
    'like.deleted',
    'media.processed',
    'media.rejected',
    'media.uploaded',
    'notification.created',
    'post.deleted',
    'post.published',
    'session.revoked',
  ]);
});
