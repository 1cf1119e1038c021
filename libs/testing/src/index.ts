export { reportedPort } from './child-port.ts';
export { type CommandRun, runCommand } from './command.ts';
export { isReachable, type S3Endpoint, stopTestInfra, type TestInfra, testInfra } from './infra.ts';
export { type NamespaceOptions, openNamespace, s3ClientFor, type TestNamespace } from './namespace.ts';
export { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.ts';
export { freePort } from './ports.ts';
export { type PrivateNats, type PrivateNatsOptions, startPrivateNats } from './private-nats.ts';
export {
  type PrivatePostgres,
  type PrivatePostgresOptions,
  startPrivatePostgres,
} from './private-postgres.ts';
export { type PrivateRedis, startPrivateRedis } from './private-redis.ts';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';
export { sleep, type WaitOptions, waitFor } from './wait.ts';
