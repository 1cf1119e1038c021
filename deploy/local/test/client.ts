import { request as httpRequest } from 'node:http';

/** A mobile client's view of InstantPost: JSON over HTTP through the gateway, nothing else. */
export interface Session {
  accessToken: string;
  refreshToken: string;
  user: { id: string; username: string };
}

export interface Reply<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export class Client {
  /**
   * `localAddress` binds the client's connections to another loopback address (`127.0.0.7`), so the
   * gateway sees a different machine (PITFALLS.md); without it, requests come from 127.0.0.1.
   */
  readonly baseUrl: string;
  readonly localAddress: string | undefined;

  constructor(baseUrl: string, localAddress?: string) {
    this.baseUrl = baseUrl;
    this.localAddress = localAddress;
  }

  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: { token?: string; json?: unknown; form?: FormData; headers?: Record<string, string> } = {},
  ): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | FormData | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form) {
      body = options.form;
    }
    const res = await this.send(method, path, headers, body);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
  }

  /** One request, from `localAddress` when set. */
  async send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string | FormData,
  ): Promise<Response> {
    if (!this.localAddress) return fetch(`${this.baseUrl}${path}`, { method, headers, body });
    // Response serializes a FormData with its multipart boundary, as fetch would send it.
    const encoded = body === undefined ? undefined : new Response(body);
    const bytes = encoded ? Buffer.from(await encoded.arrayBuffer()) : undefined;
    const contentType = encoded?.headers.get('content-type');
    const all = { ...(contentType ? { 'content-type': contentType } : {}), ...headers };
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        `${this.baseUrl}${path}`,
        { method, headers: all, localAddress: this.localAddress },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const out = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) out.set(name, Array.isArray(value) ? value.join(', ') : value);
            }
            const status = res.statusCode ?? 0;
            const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
            resolve(new Response(payload, { status, headers: out }));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(bytes);
    });
  }

  async signUp(username: string, password: string, displayName: string): Promise<Session> {
    const created = await this.call('POST', '/v1/accounts', { json: { username, password, displayName } });
    if (created.status !== 201)
      throw new Error(`sign-up of ${username}: ${created.status} ${JSON.stringify(created.body)}`);
    return this.logIn(username, password);
  }

  async logIn(username: string, password: string): Promise<Session> {
    const res = await this.call<Session>('POST', '/v1/sessions', { json: { username, password } });
    if (res.status !== 201)
      throw new Error(`log-in of ${username}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async upload(
    token: string,
    photo: Buffer,
    fields: { caption?: string; altText?: string },
  ): Promise<string> {
    const form = new FormData();
    if (fields.caption) form.set('caption', fields.caption);
    if (fields.altText) form.set('altText', fields.altText);
    form.set('photo', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'photo.jpg');
    const res = await this.call<{ id: string; status: string }>('POST', '/v1/media', { token, form });
    if (res.status !== 202) throw new Error(`upload: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id;
  }
}

export interface ServerSentEvent {
  id?: string;
  event?: string;
  data: string;
}

/** An EventSource-like reader over fetch: collects events until closed. */
export async function openEventStream(
  url: string,
  token: string,
  lastEventId?: string,
  /** Send the token as `?access_token=`, as a browser's EventSource must. */
  options: { tokenInQuery?: boolean } = {},
): Promise<{ events: ServerSentEvent[]; status: number; ended(): boolean; close(): void }> {
  const controller = new AbortController();
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (!options.tokenInQuery) headers.authorization = `Bearer ${token}`;
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const target = options.tokenInQuery ? `${url}?access_token=${encodeURIComponent(token)}` : url;
  const res = await fetch(target, { headers, signal: controller.signal });
  const events: ServerSentEvent[] = [];
  let endedByServer = false;
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event: ServerSentEvent = { data: '' };
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'id') event.id = value;
              else if (field === 'event') event.event = value;
              else if (field === 'data') data.push(value);
            }
            if (data.length > 0) {
              event.data = data.join('\n');
              events.push(event);
            }
            end = buffer.indexOf('\n\n');
          }
        }
        endedByServer = true;
      } catch {
        // aborted by close()
      }
    })();
  }
  return { events, status: res.status, ended: () => endedByServer, close: () => controller.abort() };
}
