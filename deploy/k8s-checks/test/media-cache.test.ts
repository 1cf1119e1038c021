import test from 'ava';
import { checkMediaCache, formatFindings } from '../src/index.ts';
import { find, manifestFindings, OVERLAYS, render } from './helpers.ts';

for (const overlay of OVERLAYS) {
  test(`${overlay}: the media cache verifies signed URLs with the gateway's script and the signers' key`, (t) => {
    t.is(formatFindings(checkMediaCache(render(overlay))), '');
  });
}

test('a stale script, no njs module, no signature check or another key are each reported', (t) => {
  const objects = render('k8s/overlays/dev');
  const config = find(objects, 'ConfigMap', 'media-cache');
  const data = config.data as Record<string, string>;
  data['media-url.js'] = `${data['media-url.js']}// edited here only\n`;
  data['nginx.conf'] = (data['nginx.conf'] ?? '').replace(/load_module[^\n]*\n/, '');
  data['media.conf.template'] = (data['media.conf.template'] ?? '').replace(
    /if \(\$media_url_check != "ok"\) \{\s*return 403;\s*\}/,
    '',
  );
  const feed = find(objects, 'Deployment', 'feed');
  const env = feed.spec.template.spec.containers[0].env as Array<{ name: string; valueFrom?: unknown }>;
  const key = env.find((e) => e.name === 'MEDIA_URL_SIGNING_KEY');
  if (key) key.valueFrom = { secretKeyRef: { name: 'another-secret', key: 'MEDIA_URL_SIGNING_KEY' } };
  const report = formatFindings(checkMediaCache(objects));
  t.regex(report, /media-url\.js differs from deploy\/nginx\/media-url\.js/);
  t.regex(report, /does not load the njs module/);
  t.regex(report, /lacks the signature check in the media location/);
  t.regex(report, /Deployment\/feed: MEDIA_URL_SIGNING_KEY is another-secret\/MEDIA_URL_SIGNING_KEY/);
});

test('a signing service without MEDIA_URL_SIGNING_KEY is reported (custom() variables without a default are required)', (t) => {
  const objects = render('k8s/overlays/prod');
  for (const name of ['metadata', 'feed']) {
    const container = find(objects, 'Deployment', name).spec.template.spec.containers[0];
    container.env = container.env.filter((e: { name: string }) => e.name !== 'MEDIA_URL_SIGNING_KEY');
  }
  const report = formatFindings(manifestFindings('k8s/overlays/prod', objects));
  for (const name of ['metadata', 'feed']) {
    t.regex(
      report,
      new RegExp(
        `Deployment/${name} container ${name}: MEDIA_URL_SIGNING_KEY is required by ${name} \\(libs/media-urls/`,
      ),
    );
  }
});
