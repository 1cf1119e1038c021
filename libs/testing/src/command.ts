import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How a command ended: its exit status and what it printed. */
export interface CommandRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a TypeScript command (an operator CLI, a setup script) as its npm script does, in a child process
 * so that its `process.exit` ends only the child: `node --import tsx <script> <args…>`.
 */
export function runCommand(
  script: string | URL,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): CommandRun {
  const path = script instanceof URL ? fileURLToPath(script) : script;
  const result = spawnSync(process.execPath, ['--import', 'tsx', path, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
