import { countRouteOutcomes } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';

/** `instantpost_uploads_total{outcome}`: photos accepted, refused (4xx: too large, wrong type, limit) or failed. */
export function countUploads(app: FastifyInstance): void {
  countRouteOutcomes(
    app,
    { method: 'POST', url: '/v1/media' },
    {
      name: 'instantpost_uploads_total',
      help: 'Photo uploads by outcome: accepted, rejected (the client’s fault) or failed (ours)',
      outcomes: ['accepted', 'rejected', 'failed'],
      outcomeOf: (status) => (status < 400 ? 'accepted' : status < 500 ? 'rejected' : 'failed'),
    },
  );
}
