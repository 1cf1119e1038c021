/** `npm run nats:auth`: renders k8s/nats/auth.conf from libs/bus's table and the services' consumers (`--help`). */
import { parseCommand } from '@instantpost/config/cli';
import { NATS_AUTH_FILE, natsAuthIsCurrent, writeNatsAuth } from './nats-auth.ts';

const COMMAND = {
  name: 'npm run nats:auth --',
  synopsis: '[--check]',
  summary:
    'Writes k8s/nats/auth.conf, the NATS users and permissions, from libs/bus/src/access.ts and the consumers the services define.',
  options: {
    check: {
      type: 'boolean',
      default: false,
      description: 'write nothing; exit 1 when the file is not current',
    },
  },
} as const;

const { values } = parseCommand(COMMAND);
if (values.check) {
  const current = natsAuthIsCurrent();
  process.stdout.write(`${NATS_AUTH_FILE} is ${current ? 'current' : 'stale: run npm run nats:auth'}\n`);
  process.exitCode = current ? 0 : 1;
} else {
  writeNatsAuth();
  process.stdout.write(`wrote ${NATS_AUTH_FILE}\n`);
}
