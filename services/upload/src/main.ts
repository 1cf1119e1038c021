import { runService } from '@instantpost/chassis';
import { buildApp } from './app.ts';
import { configSpec } from './config.ts';

await runService({
  service: 'upload',
  spec: configSpec,
  migrations: new URL('./sql/migrations/', import.meta.url),
  build: buildApp,
});
