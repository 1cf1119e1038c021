import type { Session, User } from './types.ts';

/** Where the refresh token outlives a reload (services/web/README.md says why localStorage). */
const REFRESH_KEY = 'instantpost.refreshToken';

/**
 * The signed-in person's tokens: the access token only in memory (never written anywhere a script of
 * another page could read after this one closes), the refresh token in localStorage.
 */
export class Tokens {
  #access: string | undefined;
  #user: User | undefined;
  readonly #storage: Storage;
  readonly #listeners = new Set<() => void>();

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  get access(): string | undefined {
    return this.#access;
  }

  get user(): User | undefined {
    return this.#user;
  }

  get refresh(): string | null {
    return this.#storage.getItem(REFRESH_KEY);
  }

  set(session: Session): void {
    this.#access = session.accessToken;
    this.#user = session.user;
    this.#storage.setItem(REFRESH_KEY, session.refreshToken);
    this.#emit();
  }

  clear(): void {
    const had = this.#access !== undefined || this.refresh !== null;
    this.#access = undefined;
    this.#user = undefined;
    this.#storage.removeItem(REFRESH_KEY);
    if (had) this.#emit();
  }

  /** Called when someone signs in or out (the UI re-renders). */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(): void {
    for (const listener of this.#listeners) listener();
  }
}
