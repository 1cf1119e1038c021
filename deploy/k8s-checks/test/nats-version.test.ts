/**
 * The NATS the manifests deploy is the NATS the tests run: the line of the nats-server the tests start
 * (Debian's package, 2.9) in dev's image, prod's Helm values and the tests' container fallback.
 */
import { startPrivateNats } from '@instantpost/testing';
import test from 'ava';
import { connect } from 'nats';
import { checkNatsVersions, formatFindings, natsVersionsInUse } from '../src/index.ts';
import { render } from './helpers.ts';

async function testedVersion(): Promise<string> {
  const server = await startPrivateNats();
  try {
    const nc = await connect({ servers: server.url });
    const version = nc.info?.version ?? '';
    await nc.close();
    return version;
  } finally {
    await server.stop();
  }
}

test('the overlays and the test fallback run the NATS line the tests run', async (t) => {
  const tested = await testedVersion();
  t.regex(tested, /^\d+\.\d+\.\d+/);
  const uses = natsVersionsInUse(render('k8s/overlays/dev'));
  t.true(
    uses.some((u) => u.where.includes('StatefulSet/nats')) && uses.some((u) => u.where.includes('prod')),
  );
  t.is(formatFindings(checkNatsVersions(tested, uses)), '');
  t.log(`tests run nats-server ${tested}; ${uses.map((u) => `${u.where}: ${u.version}`).join('; ')}`);
});

test('a manifest on another NATS line is reported', (t) => {
  const findings = checkNatsVersions('2.9.10', [
    { where: 'k8s/overlays/prod/nats-values.yaml container.image.tag', version: '2.11.4-alpine' },
    { where: 'dev', version: '2.9.24-alpine' },
  ]);
  t.is(findings.length, 1);
  t.regex(
    formatFindings(findings),
    /nats-values\.yaml .*runs NATS 2\.11\.4-alpine, but the tests run nats-server 2\.9\.10/,
  );
});
