import type { ChildProcess } from 'node:child_process';

/**
 * The port a service started with PORT=0 and an IPC channel reports once it listens (libs/chassis
 * run.ts `announcePort`). Rejects when the process exits first or nothing comes within `timeoutMs`:
 * a port picked by the parent and bound by the child could be taken in between by another process.
 */
export function reportedPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const done = (fn: () => void) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      fn();
    };
    const onMessage = (message: unknown) => {
      const { type, port } = (message ?? {}) as { type?: unknown; port?: unknown };
      if (type === 'listening' && typeof port === 'number') done(() => resolve(port));
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      done(() => reject(new Error(`process exited (${signal ?? `code ${code}`}) before it listened`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`no port reported after ${timeoutMs} ms`))),
      timeoutMs,
    );
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
