/**
 * Loaded before the service's own code (`node --import @instantpost/telemetry/register src/main.ts`)
 * so the SDK is in place before any module that creates spans. Reads OTEL_SERVICE_NAME (or
 * SERVICE_NAME) and OTEL_EXPORTER_OTLP_ENDPOINT; exports nothing unless the endpoint is set.
 */
import { register, supportsSyncHooks } from 'import-in-the-middle/register-hooks.mjs';
import { INSTRUMENTED_ESM_IMPORTS, startTelemetry } from './tracing.ts';

// ioredis and the AWS SDK are imported from ES modules, which require-in-the-middle never sees: the
// instrumentations reach them only through this loader hook, limited to the modules they patch.
if (supportsSyncHooks()) register({ include: [...INSTRUMENTED_ESM_IMPORTS] });

startTelemetry({
  serviceName: process.env.OTEL_SERVICE_NAME ?? process.env.SERVICE_NAME ?? 'instantpost',
  otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
});
