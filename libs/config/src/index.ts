/**
 * Typed environment parsing. A service declares its variables once; `loadConfig` reads them all,
 * collects every problem and throws one `ConfigError` that names each bad variable.
 */

export type VarParser<T> = (raw: string) => T;

/** One environment variable: its name, how to parse it, its default and what it is for. */
export interface EnvVar<T> {
  readonly name: string;
  readonly doc: string;
  readonly parse: VarParser<T>;
  /** Used when the variable is unset or empty. Absent means the variable is required. */
  readonly fallback?: { value: T; shown: string };
  readonly secret: boolean;
  /** Variables that must be set too whenever this one is (a user name needs its password). */
  readonly requires?: readonly string[];
}

interface VarOptions<T> {
  doc: string;
  default?: T;
  secret?: boolean;
  requires?: readonly string[];
}

export type ConfigSpec = Record<string, EnvVar<unknown>>;
export type ConfigOf<S extends ConfigSpec> = {
  readonly [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never;
};

/** Why a configuration was refused, as stable codes. */
export const ConfigErrorCodes = { Invalid: 'CONFIG_INVALID' } as const;

export interface ConfigProblem {
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = ConfigErrorCodes.Invalid;
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
    this.problems = problems;
  }
}

function define<T>(
  name: string,
  parse: VarParser<T>,
  opts: VarOptions<T>,
  show: (v: T) => string,
): EnvVar<T> {
  return {
    name,
    doc: opts.doc,
    parse,
    secret: opts.secret ?? false,
    ...(opts.requires ? { requires: opts.requires } : {}),
    ...(opts.default === undefined ? {} : { fallback: { value: opts.default, shown: show(opts.default) } }),
  };
}

export function str(name: string, opts: VarOptions<string> & { pattern?: RegExp }): EnvVar<string> {
  return define(
    name,
    (raw) => {
      if (opts.pattern && !opts.pattern.test(raw)) throw new Error(`must match ${opts.pattern}`);
      return raw;
    },
    opts,
    (v) => v,
  );
}

export function int(name: string, opts: VarOptions<number> & { min?: number; max?: number }): EnvVar<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return define(
    name,
    (raw) => {
      if (!/^-?\d+$/.test(raw)) throw new Error(`must be a whole number, got "${raw}"`);
      const n = Number(raw);
      if (n < min || n > max) throw new Error(`must be between ${min} and ${max}, got ${n}`);
      return n;
    },
    opts,
    String,
  );
}

export function bool(name: string, opts: VarOptions<boolean>): EnvVar<boolean> {
  return define(
    name,
    (raw) => {
      const v = raw.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new Error(`must be true or false, got "${raw}"`);
    },
    opts,
    String,
  );
}

export function url(name: string, opts: VarOptions<string> & { protocols?: string[] }): EnvVar<string> {
  return define(
    name,
    (raw) => {
      let parsed: URL;
      try {
        parsed = new URL(raw);
      } catch {
        throw new Error(`must be a URL, got "${raw}"`);
      }
      if (opts.protocols && !opts.protocols.includes(parsed.protocol.replace(/:$/, ''))) {
        throw new Error(`must use ${opts.protocols.join(' or ')}, got "${parsed.protocol}"`);
      }
      return raw;
    },
    opts,
    (v) => v,
  );
}

export function oneOf<const T extends string>(
  name: string,
  values: readonly T[],
  opts: VarOptions<T>,
): EnvVar<T> {
  return define(
    name,
    (raw) => {
      if (!(values as readonly string[]).includes(raw))
        throw new Error(`must be one of ${values.join(', ')}, got "${raw}"`);
      return raw as T;
    },
    opts,
    (v) => v,
  );
}

/** A variable whose text is parsed by a function of the caller's (a shard map, a key); its error message is kept. */
export function custom<T>(
  name: string,
  parse: VarParser<T>,
  opts: VarOptions<T> & { shown?: string },
): EnvVar<T> {
  return define(name, parse, opts, () => opts.shown ?? '(computed)');
}

/** A variable that may be left unset; then its value is `undefined`. */
export function optional<T>(v: EnvVar<T>): EnvVar<T | undefined> {
  return { ...v, fallback: { value: undefined, shown: '(unset)' } };
}

/** Reads every variable of `spec` from `source`; throws one ConfigError listing every bad or missing one. */
export function loadConfig<S extends ConfigSpec>(
  spec: S,
  source: Record<string, string | undefined> = process.env,
): ConfigOf<S> {
  const problems: ConfigProblem[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(spec)) {
    const raw = source[v.name];
    if (raw === undefined || raw === '') {
      if (v.fallback) out[key] = v.fallback.value;
      else problems.push({ variable: v.name, message: 'is required but not set' });
      continue;
    }
    try {
      out[key] = v.parse(raw);
    } catch (err) {
      problems.push({ variable: v.name, message: err instanceof Error ? err.message : String(err) });
    }
  }
  const isSet = (name: string) => (source[name] ?? '') !== '';
  for (const v of Object.values(spec)) {
    if (!isSet(v.name)) continue;
    for (const needed of v.requires ?? []) {
      if (!isSet(needed) && !problems.some((p) => p.variable === needed))
        problems.push({ variable: needed, message: `is required when ${v.name} is set` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

/** A Markdown table of the variables, for READMEs. */
export function describeConfig(spec: ConfigSpec): string {
  const rows = Object.values(spec).map((v) => {
    const dflt = v.fallback ? (v.secret ? '(secret)' : `\`${v.fallback.shown}\``) : 'required';
    return `| \`${v.name}\` | ${dflt} | ${v.doc} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
