import test from 'ava';
import { checkTiltfile, formatFindings, readTiltfile } from '../src/index.ts';
import { codeFacts, render } from './helpers.ts';

test('the Tiltfile builds every service, names only existing paths and resources, and parses', (t) => {
  const tilt = readTiltfile();
  t.deepEqual(Object.keys(tilt.services).sort(), Object.keys(codeFacts().servicePorts).sort());
  t.is(tilt.imagePrefix, 'instantpost/');
  t.is(formatFindings(checkTiltfile(tilt, codeFacts().servicePorts, render('k8s/overlays/dev'))), '');
});
