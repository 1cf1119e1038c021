/**
 * JSON Schemas of GET /v1/feed: validation of the query, fast serialization of the reply and the OpenAPI
 * document. The reply matches `FeedItem` in domain/types.ts (a post as API.md defines it).
 */
const id = { type: 'string', pattern: '^(0|[1-9][0-9]{0,18})$' } as const;

const user = {
  type: 'object',
  required: ['id', 'username', 'displayName'],
  properties: { id, username: { type: 'string' }, displayName: { type: 'string' } },
} as const;

const rendition = {
  type: 'object',
  required: ['name', 'width', 'height', 'format', 'url'],
  properties: {
    name: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    format: { type: 'string' },
    url: { type: 'string' },
  },
} as const;

const post = {
  type: 'object',
  required: [
    'id',
    'author',
    'caption',
    'hashtags',
    'mentions',
    'altText',
    'createdAt',
    'likeCount',
    'commentCount',
    'viewerHasLiked',
    'media',
  ],
  properties: {
    id,
    author: user,
    caption: { type: 'string' },
    hashtags: { type: 'array', items: { type: 'string' } },
    mentions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['userId', 'username'],
        properties: { userId: id, username: { type: 'string' } },
      },
    },
    altText: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    likeCount: { type: 'integer' },
    commentCount: { type: 'integer' },
    viewerHasLiked: { type: 'boolean' },
    media: {
      type: 'object',
      required: ['width', 'height', 'blurhash', 'renditions'],
      properties: {
        width: { type: 'integer' },
        height: { type: 'integer' },
        blurhash: { type: 'string' },
        renditions: { type: 'array', items: rendition },
      },
    },
  },
} as const;

export const feedQuerySchema = {
  type: 'object',
  properties: {
    cursor: { type: 'string', description: 'nextCursor of the previous page' },
    limit: { type: 'string', description: 'items per page, 1-100 (default 20)' },
  },
} as const;

export const feedReplySchema = {
  200: {
    type: 'object',
    required: ['items', 'nextCursor'],
    properties: {
      items: { type: 'array', items: post },
      nextCursor: { type: ['string', 'null'] },
    },
  },
} as const;
