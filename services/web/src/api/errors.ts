import type { Problem } from './types.ts';

/** A call the API refused (4xx/5xx) or that never reached it (status 0). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly problem: Problem | undefined;

  constructor(status: number, problem: Problem | undefined, options?: { cause?: unknown }) {
    super(problem?.detail ?? problem?.title ?? `request failed (${status})`, options);
    this.status = status;
    this.problem = problem;
  }
}

/** The problem+json body of a refused call, if it has one. */
export function problemOf(status: number, text: string): Problem | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === 'object') return { ...(body as Partial<Problem>), status };
  } catch {
    // not JSON: an HTML error page from a proxy, an empty body
  }
  return undefined;
}

/** A sentence for a person: the API's own detail when it gave one. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return 'No connection. Check your network and try again.';
    if (err.status === 429) return 'Too many attempts. Wait a moment and try again.';
    return err.problem?.detail ?? err.problem?.title ?? `Something went wrong (${err.status}).`;
  }
  return 'Something went wrong.';
}
