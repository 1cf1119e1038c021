import type { FastifyBaseLogger } from 'fastify';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
type LogFn = FastifyBaseLogger['info'];

/**
 * A request's logger, made the first time the request logs. Fastify gives every request a child logger
 * bound to its id, and a pino child is not free (its bindings serialized, redaction set up: ~4 % of a warm
 * read's CPU in a profile of GET /v1/feed at 50 connections), while most requests never log: request lines
 * are the gateway's, and a service logs a request only when it fails. Lines logged through it are the same
 * as through the child it stands for.
 */
export class LazyChildLogger implements FastifyBaseLogger {
  private real: FastifyBaseLogger | undefined;
  private readonly parent: FastifyBaseLogger;
  private readonly bindings: Bindings;
  private readonly options: ChildOptions;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions) {
    this.parent = parent;
    this.bindings = bindings;
    this.options = options;
  }

  /** Whether the child exists yet (for tests). */
  get made(): boolean {
    return this.real !== undefined;
  }

  get level(): string {
    return this.real?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger().level = level;
  }

  readonly fatal: LogFn = (...args: unknown[]) => this.log('fatal', args);
  readonly error: LogFn = (...args: unknown[]) => this.log('error', args);
  readonly warn: LogFn = (...args: unknown[]) => this.log('warn', args);
  readonly info: LogFn = (...args: unknown[]) => this.log('info', args);
  readonly debug: LogFn = (...args: unknown[]) => this.log('debug', args);
  readonly trace: LogFn = (...args: unknown[]) => this.log('trace', args);
  readonly silent: LogFn = (...args: unknown[]) => this.log('silent', args);

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.logger().child(bindings, options);
  }

  private logger(): FastifyBaseLogger {
    this.real ??= this.parent.child(this.bindings, this.options);
    return this.real;
  }

  private log(level: Level, args: unknown[]): void {
    const logger = this.logger();
    (logger[level] as (...a: unknown[]) => void).apply(logger, args);
  }
}
