import { ApiError, problemOf } from './errors.ts';
import type { Tokens } from './tokens.ts';
import type { Session } from './types.ts';

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/**
 * The public API on the page's own origin. Every call carries the access token, renewed halfway through
 * its life; a 401 all the same (the tab slept) swaps the refresh token for a new pair once, quietly, and
 * repeats the call; a refresh that fails signs out.
 */
export class ApiClient {
  readonly tokens: Tokens;
  #refreshing: Promise<boolean> | undefined;
  #renewal: ReturnType<typeof setTimeout> | undefined;

  constructor(tokens: Tokens) {
    this.tokens = tokens;
  }

  /**
   * Keeps a session: the tokens, and a refresh halfway through the access token's life, so calls (and the
   * notification stream, which the server closes when its token expires) rarely meet a 401 at all.
   */
  #start(session: Session): void {
    this.tokens.set(session);
    clearTimeout(this.#renewal);
    this.#renewal = setTimeout(() => void this.refresh(), (session.expiresIn * 1000) / 2);
  }

  #end(): void {
    clearTimeout(this.#renewal);
    this.tokens.clear();
  }

  async get<T>(path: string): Promise<T> {
    return this.#authed<T>('GET', path);
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    return this.#authed<T>('POST', path, body);
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return this.#authed<T>('PATCH', path, body);
  }

  async delete(path: string): Promise<void> {
    await this.#authed<unknown>('DELETE', path);
  }

  /** A call without a token (sign-up, log-in). */
  async anonymous<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const res = await send(method, path, undefined, body);
    return read<T>(res);
  }

  async logIn(username: string, password: string): Promise<void> {
    this.#start(await this.anonymous<Session>('POST', '/v1/sessions', { username, password }));
  }

  /** Ends the session on the server (its refresh token and streams stop), then forgets the tokens. */
  async logOut(): Promise<void> {
    try {
      if (this.tokens.access) await send('DELETE', '/v1/sessions/current', this.tokens.access);
    } finally {
      this.#end();
    }
  }

  /**
   * A fresh access token from the stored refresh token; one at a time in this tab, and across tabs under
   * a Web Lock, so two tabs never spend the same refresh token (the second would be refused: rotation).
   */
  refresh(): Promise<boolean> {
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** A valid access token, refreshing first when there is none yet (a reload). */
  async accessToken(): Promise<string | undefined> {
    if (!this.tokens.access && this.tokens.refresh) await this.refresh();
    return this.tokens.access;
  }

  async #refreshOnce(): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      const token = this.tokens.refresh;
      if (!token) return false;
      const res = await send('POST', '/v1/sessions/refresh', undefined, { refreshToken: token }).catch(
        () => undefined,
      );
      if (res?.status === 201) {
        this.#start((await res.json()) as Session);
        return true;
      }
      // Refused: the session is over (logged out elsewhere, expired). A network failure keeps the token.
      if (res && res.status < 500) this.#end();
      return false;
    };
    return navigator.locks ? navigator.locks.request('instantpost-refresh', run) : run();
  }

  async #authed<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const token = await this.accessToken();
    let res = await send(method, path, token, body);
    if (res.status === 401 && (await this.refresh())) {
      res = await send(method, path, this.tokens.access, body);
    }
    if (res.status === 401) this.#end();
    return read<T>(res);
  }
}

async function send(method: Method, path: string, token?: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    return await fetch(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (cause) {
    throw new ApiError(0, undefined, { cause });
  }
}

async function read<T>(res: Response): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, problemOf(res.status, text));
  return (text ? JSON.parse(text) : undefined) as T;
}
