import { countRouteOutcomes } from '@instantpost/http';
import type { FastifyInstance } from 'fastify';

/** `instantpost_logins_total{outcome}`: a burst of failures is credential stuffing; of errors, an outage. */
export function countLogins(app: FastifyInstance): void {
  countRouteOutcomes(
    app,
    { method: 'POST', url: '/v1/sessions' },
    {
      name: 'instantpost_logins_total',
      help: 'Log-ins by outcome: success, failure (wrong credentials or request), rate_limited, error',
      outcomes: ['success', 'failure', 'rate_limited', 'error'],
      outcomeOf: (status) =>
        status < 400 ? 'success' : status === 429 ? 'rate_limited' : status < 500 ? 'failure' : 'error',
    },
  );
}
