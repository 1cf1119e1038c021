/**
 * Abuse and session rules as clients on different machines see them through the real gateway: each
 * client binds another loopback address (127.0.0.x), so nginx and the services see different peers.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { openNamespace, stopTestInfra, type TestNamespace, waitFor } from '@instantpost/testing';
import test from 'ava';
import { Client, openEventStream, type Session } from './client.ts';
import { openTestStack, type TestStack } from './stack-fixture.ts';

let ns: TestNamespace;
let running: TestStack;
/** Every secret this file sends or receives; none may show up in any log. */
const secrets = new Set<string>();

test.before(async () => {
  ns = await openNamespace({ databases: 2 });
  running = await openTestStack(ns, {
    // debug: the services write a line per request too (libs/http), so the log scan below reads the most
    // a production log can hold.
    env: { LOG_LEVEL: 'debug', LOGIN_MAX_FAILURES_PER_ADDRESS: '3', LOGIN_FREE_FAILURES: '2' },
    gateway: { streamsPerClient: 6 },
  });
});
test.after.always(async () => {
  await running?.stop();
  await ns?.close();
  await stopTestInfra();
});

let n = 0;
const uniqueName = (base: string) => `${base}${++n}_${Math.random().toString(36).slice(2, 6)}`;
const PASSWORD = 'correct horse battery staple';
secrets.add(PASSWORD);

function clientAt(address: string): Client {
  return new Client(running.url, address);
}

function remember(session: Session): Session {
  secrets.add(session.accessToken);
  secrets.add(session.refreshToken);
  return session;
}

async function logInStatus(client: Client, username: string, password: string, forged?: string) {
  secrets.add(password);
  const res = await client.call('POST', '/v1/sessions', {
    json: { username, password },
    ...(forged
      ? { headers: { 'x-forwarded-for': forged, 'x-real-ip': forged, forwarded: `for=${forged}` } }
      : {}),
  });
  if (res.status === 201) remember(res.body as unknown as Session);
  return res.status;
}

test.serial('forged forwarding headers do not escape the per-client ceiling of failed logins', async (t) => {
  const owner = clientAt('127.0.0.20');
  const username = uniqueName('target');
  remember(await owner.signUp(username, PASSWORD, 'Target'));
  const attacker = clientAt('127.0.0.21');
  const statuses = [];
  for (let i = 0; i < 4; i++) {
    // Each try claims to come from another machine; the gateway overwrites the claim.
    statuses.push(
      await logInStatus(attacker, uniqueName('nobody'), 'wrong password 1', `198.51.100.${i + 1}`),
    );
  }
  t.deepEqual(statuses, [401, 401, 401, 429]);
  const bystander = clientAt('127.0.0.22');
  t.is(
    await logInStatus(bystander, uniqueName('nobody'), 'wrong password 2'),
    401,
    'another client is not limited',
  );
  t.is(await logInStatus(owner, username, PASSWORD), 201);
});

test.serial('failures from other clients never stop the owner from logging in', async (t) => {
  const owner = clientAt('127.0.0.30');
  const username = uniqueName('victim');
  remember(await owner.signUp(username, PASSWORD, 'Victim'));
  const tries: number[] = [];
  for (const address of ['127.0.0.31', '127.0.0.32', '127.0.0.33']) {
    const attacker = clientAt(address);
    for (let i = 0; i < 3; i++) tries.push(await logInStatus(attacker, username, `guess ${i}`));
  }
  t.true(tries.includes(429), 'the guessing clients were slowed down');
  t.is(await logInStatus(owner, username, PASSWORD), 201, 'the right password works from the owner');
  t.is(await logInStatus(clientAt('127.0.0.34'), username, PASSWORD), 201, 'and from any new place');
});

test.serial(
  'logout ends the access token at every service within 5 s and closes its open streams',
  async (t) => {
    const phone = clientAt('127.0.0.40');
    const username = uniqueName('leaver');
    const session = remember(await phone.signUp(username, PASSWORD, 'Leaver'));
    const laptop = remember(await phone.logIn(username, PASSWORD));
    const paths = ['/v1/me', '/v1/feed', '/v1/notifications'];
    for (const path of paths)
      t.is((await phone.call('GET', path, { token: session.accessToken })).status, 200, path);
    const stream = await openEventStream(
      `${running.url}/v1/notifications/stream`,
      session.accessToken,
      undefined,
      {
        tokenInQuery: true,
      },
    );
    const laptopStream = await openEventStream(`${running.url}/v1/notifications/stream`, laptop.accessToken);
    t.is(stream.status, 200);
    try {
      t.is((await phone.call('DELETE', '/v1/sessions/current', { token: session.accessToken })).status, 204);
      await waitFor(
        'every service refuses the token',
        async () => {
          const statuses = await Promise.all(
            paths.map(async (path) => (await phone.call('GET', path, { token: session.accessToken })).status),
          );
          return statuses.every((status) => status === 401) ? statuses : undefined;
        },
        { timeoutMs: 5000 },
      );
      await waitFor('the stream is closed', async () => (stream.ended() ? true : undefined), {
        timeoutMs: 5000,
      });
      t.false(laptopStream.ended(), 'the other session keeps its stream');
      t.is((await phone.call('GET', '/v1/me', { token: laptop.accessToken })).status, 200, 'and its token');
      const refresh = await phone.call('POST', '/v1/sessions/refresh', {
        json: { refreshToken: session.refreshToken },
      });
      t.is(refresh.status, 401);
    } finally {
      stream.close();
      laptopStream.close();
    }
  },
);

test.serial(
  'two tabs refreshing at once both keep a working session; a forged secret revokes nothing',
  async (t) => {
    const browser = clientAt('127.0.0.50');
    const session = remember(await browser.signUp(uniqueName('tabs'), PASSWORD, 'Tabs'));
    const forged = `${session.refreshToken.split('.')[0]}.${'A'.repeat(43)}`;
    t.is(
      (await browser.call('POST', '/v1/sessions/refresh', { json: { refreshToken: forged } })).status,
      401,
    );
    const [a, b] = await Promise.all(
      [1, 2].map(() =>
        browser.call<Session>('POST', '/v1/sessions/refresh', {
          json: { refreshToken: session.refreshToken },
        }),
      ),
    );
    t.is(a?.status, 201);
    t.is(b?.status, 201);
    for (const pair of [a, b]) {
      if (pair) remember(pair.body);
      t.is((await browser.call('GET', '/v1/me', { token: pair?.body.accessToken })).status, 200);
    }
  },
);

test.serial('the gateway caps open streams per client address; other addresses still connect', async (t) => {
  const home = clientAt('127.0.0.60');
  const sessions = [
    remember(await home.signUp(uniqueName('nat'), PASSWORD, 'One')),
    remember(await home.signUp(uniqueName('nat'), PASSWORD, 'Two')),
  ];
  const streams = [];
  try {
    // Two people behind one address, three streams each: the address's 6 are used up.
    for (const session of [...sessions, ...sessions, ...sessions]) {
      streams.push(await openStreamFrom('127.0.0.60', session.accessToken));
    }
    t.deepEqual(
      streams.map((s) => s.status),
      [200, 200, 200, 200, 200, 200],
    );
    const seventh = await openStreamFrom('127.0.0.60', sessions[0]?.accessToken ?? '');
    streams.push(seventh);
    t.is(seventh.status, 429);
    t.regex(seventh.contentType, /problem\+json/);
    const elsewhere = remember(await clientAt('127.0.0.61').signUp(uniqueName('away'), PASSWORD, 'Away'));
    const other = await openStreamFrom('127.0.0.61', elsewhere.accessToken);
    streams.push(other);
    t.is(other.status, 200);
  } finally {
    for (const s of streams) s.close();
  }
});

/** An SSE request from another loopback address; resolves with its status once the headers arrive. */
function openStreamFrom(address: string, token: string) {
  return new Promise<{ status: number; contentType: string; close(): void }>((resolve, reject) => {
    const req = httpRequest(
      `${running.url}/v1/notifications/stream`,
      { localAddress: address, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (res) => {
        res.resume();
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test.serial(
  'no access token, refresh token or password appears in any log line of the services or the gateway',
  async (t) => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith('.log')) files.push(path);
      }
    };
    walk(running.options.workDir);
    const logs = files.map((file) => ({ file, text: readFileSync(file, 'utf8') }));
    const all = logs.map((l) => l.text).join('\n');
    // The scan reads real request logs: the calls above are in them (so a leak would be too).
    t.true(all.includes('/v1/notifications/stream'), 'the stream requests were logged');
    t.true(all.includes('/v1/sessions/refresh'), 'the refresh requests were logged');
    t.true(secrets.size >= 10);
    for (const secret of secrets) {
      const leak = logs.find((l) => l.text.includes(secret));
      t.is(leak?.file, undefined, `a secret (${secret.slice(0, 6)}…) is in a log`);
    }
  },
);
