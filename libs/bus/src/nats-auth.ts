import {
  type BusUser,
  type NatsPermissions,
  SERVICE_BUS_ACCESS,
  servicePermissions,
  setupPermissions,
} from './access.ts';

/** The NATS users besides the services': the setup Jobs' and the operator's (NATS CLI, no limits). */
export const EXTRA_NATS_USERS = ['setup', 'operator'] as const;
export type NatsUser = BusUser | (typeof EXTRA_NATS_USERS)[number];

/** Every NATS user, in the order of the config file. */
export const NATS_USERS: readonly NatsUser[] = [
  ...(Object.keys(SERVICE_BUS_ACCESS) as BusUser[]),
  ...EXTRA_NATS_USERS,
];

/**
 * The environment variable the nats-server reads a user's password from: `NATS_PASSWORD_MEDIA_PROCESSING`.
 * The server resolves `$NAME` in its config from its environment and refuses to start when one is unset.
 */
export function passwordVariable(user: NatsUser): string {
  return `NATS_PASSWORD_${user.toUpperCase().replace(/-/g, '_')}`;
}

/** A user's permissions; `undefined` for the operator, who may do everything. */
export function permissionsOf(user: NatsUser, prefix?: string): NatsPermissions | undefined {
  if (user === 'operator') return undefined;
  if (user === 'setup') return setupPermissions(prefix);
  return servicePermissions(SERVICE_BUS_ACCESS[user], prefix);
}

const list = (subjects: readonly string[], indent: string) =>
  `[\n${subjects.map((s) => `${indent}  ${JSON.stringify(s)}`).join('\n')}\n${indent}]`;

/**
 * The nats-server `authorization` block for every user (k8s/nats/auth.conf is this, with no prefix).
 * Users of the global account, so JetStream and KEDA's account `$G` stay as they are.
 */
export function renderNatsAuthorization(options: { prefix?: string } = {}): string {
  const users = NATS_USERS.map((user) => {
    const perms = permissionsOf(user, options.prefix);
    const head = `    {\n      user: ${JSON.stringify(user)}\n      password: $${passwordVariable(user)}\n`;
    if (!perms) return `${head}    }`;
    return (
      `${head}      permissions: {\n` +
      `        publish: { allow: ${list(perms.publish, '        ')} }\n` +
      `        subscribe: { allow: ${list(perms.subscribe, '        ')} }\n` +
      `      }\n    }`
    );
  });
  return [
    '# Generated from libs/bus/src/access.ts by `npm run nats:auth`: edit the table there, not this file.',
    '# Each user may publish only what is listed (nothing else); passwords come from the server environment.',
    'authorization {',
    '  users = [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
