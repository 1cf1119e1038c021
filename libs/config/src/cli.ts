/**
 * Operator commands' arguments, one way for all of them: `node:util` parseArgs (strict: an unknown
 * option is an error), `-h`/`--help` printing the usage built from the same table, and exit status 2
 * with the problem and the usage on stderr for any misuse.
 */
import { parseArgs } from 'node:util';

/** One option: parseArgs' descriptor plus what `--help` says of it. */
export interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[] | boolean[];
  /** The value's name in the usage (`--older-than-minutes <minutes>`); strings only. */
  value?: string;
  description: string;
}

/** A command's usage, options and commands, from which both parsing and `--help` are made. */
export interface CommandSpec<O extends Record<string, CliOption>> {
  /** How the operator runs it: `npm run shards --`. */
  name: string;
  /** What follows the name in the usage line: `<command> [options]`. */
  synopsis: string;
  summary: string;
  /** Sub-commands (the first positional), with what each does. */
  commands?: Record<string, string>;
  options: O;
  /** Whether positionals (sub-commands, ids) are accepted; implied by `commands`. */
  positionals?: boolean;
  /** Trailing paragraphs: the environment it reads, its exit status. */
  notes?: string;
}

type Parsed<O extends Record<string, CliOption>> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>;

/** The text `--help` prints. */
export function usageOf<O extends Record<string, CliOption>>(spec: CommandSpec<O>): string {
  const rows = (entries: [string, string][]) => {
    const width = Math.max(...entries.map(([left]) => left.length));
    return entries.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join('\n');
  };
  const options: [string, string][] = Object.entries(spec.options).map(([name, o]) => {
    const value = o.value ?? 'value';
    const shown = value.includes('<') ? value : `<${value}>`;
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${shown}` : ''}`;
    const extra = [
      o.multiple ? 'repeatable' : undefined,
      o.default !== undefined && o.default !== false && !(Array.isArray(o.default) && o.default.length === 0)
        ? `default ${String(o.default)}`
        : undefined,
    ].filter(Boolean);
    return [flag, `${o.description}${extra.length > 0 ? ` (${extra.join('; ')})` : ''}`];
  });
  options.push(['-h, --help', 'this text']);
  return [
    `usage: ${spec.name} ${spec.synopsis}`,
    '',
    spec.summary,
    ...(spec.commands ? ['', 'commands:', rows(Object.entries(spec.commands))] : []),
    '',
    'options:',
    rows(options),
    ...(spec.notes ? ['', spec.notes] : []),
  ].join('\n');
}

/** Misuse: the problem and the usage line on stderr, exit status 2. */
export function exitUsage<O extends Record<string, CliOption>>(spec: CommandSpec<O>, problem: string): never {
  process.stderr.write(
    `${spec.name.replace(/ --$/, '')}: ${problem}\nusage: ${spec.name} ${spec.synopsis} (--help for more)\n`,
  );
  process.exit(2);
}

/**
 * The command's options and positionals. `--help` prints the usage and exits 0; an unknown option, a
 * missing value, a positional where none is taken or an unknown sub-command exits 2 (exitUsage).
 */
export function parseCommand<const O extends Record<string, CliOption>>(
  spec: CommandSpec<O>,
  args: string[] = process.argv.slice(2),
): { values: Parsed<O>['values']; positionals: string[] } {
  const end = args.indexOf('--');
  const ownArgs = end === -1 ? args : args.slice(0, end);
  if (ownArgs.includes('--help') || ownArgs.includes('-h')) {
    process.stdout.write(`${usageOf(spec)}\n`);
    process.exit(0);
  }
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({
      args,
      options: spec.options,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    exitUsage(spec, err instanceof Error ? err.message : String(err));
  }
  const positionals = parsed.positionals;
  if (!spec.commands && !spec.positionals && positionals.length > 0) {
    exitUsage(spec, `unexpected argument "${positionals[0]}"`);
  }
  const command = positionals[0];
  if (spec.commands && command !== undefined && !(command in spec.commands)) {
    exitUsage(spec, `unknown command "${command}"`);
  }
  return { values: parsed.values, positionals };
}
