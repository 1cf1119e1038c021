/**
 * Loaded before the service's own code (`node --import @instantpost/telemetry/register src/main.ts`)
 * so the SDK is in place before any module that creates spans. Reads OTEL_SERVICE_NAME (or
 * SERVICE_NAME) and OTEL_EXPORTER_OTLP_ENDPOINT; exports nothing unless the endpoint is set.
 */
import { startTelemetry } from './tracing.ts';

startTelemetry({
  serviceName: process.env.OTEL_SERVICE_NAME ?? process.env.SERVICE_NAME ?? 'instantpost',
  otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
});
