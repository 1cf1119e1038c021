/** A lean HTTP/1.1 client for the load generator: keep-alive sockets, the body as text, nothing else. */
import { Agent, request } from 'node:http';

export interface Reply {
  status: number;
  text: string;
}

export interface Call {
  method: string;
  path: string;
  token?: string;
  /** A JSON body, or raw bytes with their content type. */
  json?: unknown;
  raw?: { body: Buffer; contentType: string };
}

export class HttpClient {
  private readonly agent: Agent;
  private readonly url: URL;
  private readonly localAddress: string | undefined;

  /**
   * `localAddress` binds the sockets to another loopback address (127.0.0.0/8), so the gateway's
   * per-address connection limit counts this client apart from the others (PITFALLS).
   */
  constructor(baseUrl: string, maxSockets = 256, localAddress?: string) {
    this.url = new URL(baseUrl);
    this.agent = new Agent({ keepAlive: true, maxSockets });
    this.localAddress = localAddress;
  }

  /**
   * With `expect`, a reply of that status is read and dropped (its `text` is empty): the load loops only
   * look at the body of a failure, and building every page as a string kept the generator's own garbage
   * collector, and so its event-loop delay, in the latencies it measures.
   */
  send(call: Call, expect?: number): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (call.token) headers.authorization = `Bearer ${call.token}`;
    let body: Buffer | undefined;
    if (call.json !== undefined) {
      body = Buffer.from(JSON.stringify(call.json));
      headers['content-type'] = 'application/json';
    } else if (call.raw) {
      body = call.raw.body;
      headers['content-type'] = call.raw.contentType;
    }
    if (body) headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          ...(this.localAddress ? { localAddress: this.localAddress } : {}),
          hostname: this.url.hostname,
          port: this.url.port,
          method: call.method,
          path: call.path,
          headers,
        },
        (res) => {
          if (res.statusCode === expect) {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: '' }));
            res.on('error', reject);
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A multipart/form-data body with one `photo` file field (and an optional caption), built once. */
export function photoUpload(photo: Buffer, caption?: string): { body: Buffer; contentType: string } {
  const boundary = `----instantpost${Math.random().toString(16).slice(2)}`;
  const parts: Buffer[] = [];
  if (caption)
    parts.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\n${caption}\r\n`),
    );
  parts.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="photo"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
    ),
    photo,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}
