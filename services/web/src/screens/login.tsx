import { useState } from 'preact/hooks';
import type { ApiClient } from '../api/client.ts';
import { messageOf } from '../api/errors.ts';

/** Sign up or log in: one form, two buttons. */
export function Login({ api }: { api: ApiClient }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const username = String(data.get('username') ?? '').trim();
    const password = String(data.get('password') ?? '');
    const signUp = (e.submitter as HTMLButtonElement | null)?.value === 'signup';
    setBusy(true);
    setError(undefined);
    try {
      if (signUp) await api.anonymous('POST', '/v1/accounts', { username, password });
      await api.logIn(username, password);
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <h1>InstantPost</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="username">Username</label>
        <input
          id="username"
          name="username"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          required
          maxLength={30}
          pattern="[a-z0-9._]{1,30}"
          aria-describedby="username-hint"
        />
        <p id="username-hint" class="hint">
          Lower-case letters, digits, “.” and “_”.
        </p>
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          aria-describedby="password-hint"
        />
        <p id="password-hint" class="hint">
          At least 8 characters to sign up.
        </p>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <div class="actions">
          <button type="submit" name="intent" value="login" disabled={busy}>
            Log in
          </button>
          <button type="submit" name="intent" value="signup" class="secondary" disabled={busy}>
            Sign up
          </button>
        </div>
      </form>
    </main>
  );
}
