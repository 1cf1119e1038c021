import test from 'ava';
import { formatFindings, validateSchemas } from '../src/index.ts';
import { gatewayApiFindings, manifestFindings, renderProdWithGatewayApi } from './helpers.ts';

test('prod with the gateway-api component renders a Gateway and one HTTPRoute per Ingress', (t) => {
  const objects = renderProdWithGatewayApi();
  const names = (kind: string) =>
    objects
      .filter((o) => o.kind === kind)
      .map((o) => o.metadata?.name)
      .sort();
  t.deepEqual(names('Gateway'), ['instantpost']);
  t.deepEqual(names('HTTPRoute'), names('Ingress'));
  t.true(objects.every((o) => o.metadata?.namespace === 'instantpost' || o.kind === 'Namespace'));
});

test('the Gateway and HTTPRoutes validate against the Gateway API schemas', (t) => {
  const objects = renderProdWithGatewayApi().filter((o) =>
    o.apiVersion.startsWith('gateway.networking.k8s.io/'),
  );
  t.is(objects.length, 6);
  t.is(formatFindings(validateSchemas(objects)), '');
});

test('the HTTPRoutes send every path where the Ingresses and the local gateway do', (t) => {
  t.is(formatFindings(gatewayApiFindings(renderProdWithGatewayApi())), '');
});

test('the rest of prod still agrees with the code, the Gateway proxies included in the network policies', (t) => {
  t.is(formatFindings(manifestFindings('k8s/overlays/prod', renderProdWithGatewayApi())), '');
});
