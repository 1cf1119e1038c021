/** `npm run nats:auth`: renders k8s/nats/auth.conf from libs/bus/src/access.ts. */
import { NATS_AUTH_FILE, writeNatsAuth } from './nats-auth.ts';

writeNatsAuth();
process.stdout.write(`wrote ${NATS_AUTH_FILE}\n`);
