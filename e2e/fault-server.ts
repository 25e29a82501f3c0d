/**
 * A static file server on 127.0.0.1 for the weights end-to-end tests and benchmark, with injectable faults.
 * It serves a folder (by default the app's generated built-in models, public/models) with Content-Length, a strong
 * ETag, single ranges (`Range: bytes=N-` / `N-M` → 206 + Content-Range, `If-Range`), and CORS headers so the app
 * (another origin) can read Content-Range / ETag. Faults are queued per URL path and consumed one per request
 * (a `sticky` fault stays until `clearFaults`):
 *
 *   cut          send the body up to file offset `at`, then destroy the connection
 *   corrupt      flip the byte at file offset `at` (the rest is intact)
 *   ignore-range answer a Range request with 200 and the whole file
 *   416          answer a Range request with 416 Range Not Satisfiable
 *   stall        send the body up to file offset `at`, then send nothing and keep the connection open
 *   throttle     send the body at `bytesPerSecond`
 *   status       answer `status` (with `headers`, e.g. 429 + Retry-After) and no body
 *
 * With `signing` on it behaves like the Hugging Face Hub's `resolve` URLs: a file's URL answers 302 (with CORS
 * headers) to a signed URL on another origin (localhost instead of 127.0.0.1, under /cdn/, signature in the
 * query) whatever the Range; only signed URLs serve bytes, and `expireSignedUrls()` makes every signature issued so
 * far answer 403. Faults and the log name the file's path either way (`signed` marks requests to signed URLs).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { hubRevisionRecord, type HubRevisionRecord } from '../test/hub-revision-record';

export type Fault = ({ kind: 'cut'; at: number } | { kind: 'corrupt'; at: number } | { kind: 'ignore-range' } | { kind: '416' }
  | { kind: 'stall'; at: number } | { kind: 'throttle'; bytesPerSecond: number } | { kind: 'status'; status: number; headers?: Record<string, string> })
  & { sticky?: boolean };

export interface LoggedRequest {
  path: string;
  method: string;
  range?: string;
  status: number;
  /** File offset of the first body byte. */
  start: number;
  /** A request to a signed (Hub CDN) URL. */
  signed?: boolean;
  /** Body bytes written. */
  sent: number;
  fault?: Fault['kind'];
}

export class FaultServer {
  readonly log: LoggedRequest[] = [];
  private readonly faults = new Map<string, Fault[]>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  url = '';
  /** Hub mode (see above). */
  signing = false;
  /**
   * Hugging Face repos this server answers for, as the Hub does (repo → folder under the root):
   * `/{repo}/resolve/{revision}/{path}` serves the folder's file, `/api/models/{repo}/revision/{revision}` its record
   * (`sha` = `commit`, every file with its sha256 as LFS).
   */
  readonly hubRepos = new Map<string, string>();
  readonly commit = 'c0ffee0123456789abcdef0123456789abcdef01';
  private signatureGeneration = 0;

  expireSignedUrls(): void {
    this.signatureGeneration++;
  }

  constructor(readonly root: string) {}

  /**
   * Listens on 127.0.0.1; with `tls`, over https, its URL naming `hostname` (a name the browser maps to 127.0.0.1,
   * so that the server is another origin than anything local).
   */
  async start(port = 0, opts: { tls?: { key: string; cert: string }; hostname?: string } = {}): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res).catch(() => res.destroy());
    this.server = opts.tls ? createHttpsServer(opts.tls, handler) : createServer(handler);
    this.server.on(opts.tls ? 'secureConnection' : 'connection', (s: Socket) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.url = `${opts.tls ? 'https' : 'http'}://${opts.hostname ?? '127.0.0.1'}:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The Hub's record of a repo's revision, from its folder. */
  private revisionRecord(repo: string, folder: string): Promise<HubRevisionRecord> {
    return hubRevisionRecord(repo, path.join(this.root, folder), this.commit);
  }

  /** Queues a fault for requests of `urlPath` (e.g. "/tiny-sd/unet/diffusion_pytorch_model.safetensors"). */
  fault(urlPath: string, f: Fault): void {
    this.faults.set(urlPath, [...(this.faults.get(urlPath) ?? []), f]);
  }

  clearFaults(urlPath?: string): void {
    if (urlPath) this.faults.delete(urlPath);
    else this.faults.clear();
  }

  /** Ends stalled / throttled responses in flight (their connections are destroyed). */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  requestsFor(urlPath: string): LoggedRequest[] {
    return this.log.filter((r) => r.path === urlPath && r.method === 'GET');
  }

  private nextFault(urlPath: string): Fault | undefined {
    const q = this.faults.get(urlPath);
    const f = q?.[0];
    if (f && !f.sticky) q!.shift();
    return f;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    let urlPath = decodeURIComponent(url.pathname);
    const cors = {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Accept-Ranges, Retry-After',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'Access-Control-Allow-Headers': 'Range, If-Range', 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Max-Age': '600' });
      return void res.end();
    }
    const entry: LoggedRequest = { path: urlPath, method: req.method ?? 'GET', range: req.headers.range, status: 0, start: 0, sent: 0 };
    this.log.push(entry);
    const api = /^\/api\/models\/(.+)\/revision\/[^/]+$/.exec(urlPath);
    if (api && this.hubRepos.has(api[1]!)) {
      const body = JSON.stringify(await this.revisionRecord(api[1]!, this.hubRepos.get(api[1]!)!));
      entry.status = 200;
      res.writeHead(200, { ...cors, 'Content-Type': 'application/json' });
      return void res.end(body);
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/.exec(urlPath);
    if (resolve && this.hubRepos.has(resolve[1]!)) {
      urlPath = `/${this.hubRepos.get(resolve[1]!)}/${resolve[2]}`;
      entry.path = urlPath;
    }
    if (this.signing) {
      if (!urlPath.startsWith('/cdn/')) {
        const port = (this.server!.address() as AddressInfo).port;
        entry.status = 302;
        res.writeHead(302, { ...cors, Location: `http://localhost:${port}/cdn${urlPath.split('/').map(encodeURIComponent).join('/')}?X-Amz-Signature=${this.signatureGeneration}-${Math.random().toString(16).slice(2)}` });
        return void res.end();
      }
      urlPath = urlPath.slice('/cdn'.length);
      entry.path = urlPath;
      entry.signed = true;
      if ((url.searchParams.get('X-Amz-Signature') ?? '').split('-')[0] !== String(this.signatureGeneration)) {
        entry.status = 403;
        res.writeHead(403, cors);
        return void res.end('Request has expired');
      }
    }
    const file = path.join(this.root, path.normalize(urlPath).replace(/^(\.\.[/\\])+/, ''));
    let body: Buffer;
    let etag: string;
    try {
      const st = await stat(file);
      body = await readFile(file);
      etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    } catch {
      entry.status = 404;
      res.writeHead(404, cors);
      return void res.end();
    }
    const fault = req.method === 'GET' ? this.nextFault(urlPath) : undefined;
    if (fault) entry.fault = fault.kind;
    if (fault?.kind === 'status') {
      entry.status = fault.status;
      res.writeHead(fault.status, { ...cors, ...fault.headers, 'Content-Length': '0' });
      return void res.end();
    }
    const headers: Record<string, string> = { ...cors, ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' };
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRangeOk = req.headers['if-range'] === undefined || req.headers['if-range'] === etag;
    let status = 200;
    let start = 0;
    let end = body.byteLength - 1;
    if (m && fault?.kind === '416') {
      entry.status = 416;
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${body.byteLength}`, 'Content-Length': '0' });
      return void res.end();
    }
    if (m && ifRangeOk && fault?.kind !== 'ignore-range') {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), end) : end;
      if (start >= body.byteLength) {
        entry.status = 416;
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${body.byteLength}`, 'Content-Length': '0' });
        return void res.end();
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${body.byteLength}`;
    }
    let out = body.subarray(start, end + 1);
    if (fault?.kind === 'corrupt' && fault.at >= start && fault.at <= end) {
      out = Buffer.from(out);
      out[fault.at - start] ^= 0xff;
    }
    entry.status = status;
    entry.start = start;
    res.writeHead(status, { ...headers, 'Content-Length': String(out.byteLength) });
    if (req.method === 'HEAD') return void res.end();
    await this.send(res, entry, out, start, fault);
  }

  private async send(res: ServerResponse, entry: LoggedRequest, out: Buffer, start: number, fault: Fault | undefined): Promise<void> {
    const write = (b: Buffer) => new Promise<void>((resolve) => res.write(b, () => resolve()));
    if (fault?.kind === 'cut' || fault?.kind === 'stall') {
      const part = out.subarray(0, Math.max(0, Math.min(out.byteLength, fault.at - start)));
      await write(part);
      entry.sent = part.byteLength;
      if (fault.kind === 'cut') {
        await new Promise((r) => setTimeout(r, 50)); // let the bytes reach the client before the break
        res.socket?.destroy();
      }
      return; // a stall keeps the connection open and silent until the client gives up
    }
    if (fault?.kind === 'throttle') {
      const piece = Math.max(1024, Math.round(fault.bytesPerSecond / 20));
      for (let at = 0; at < out.byteLength; at += piece) {
        if (res.destroyed || res.socket?.destroyed) return;
        const b = out.subarray(at, at + piece);
        await write(b);
        entry.sent += b.byteLength;
        await new Promise((r) => setTimeout(r, 50));
      }
      return void res.end();
    }
    res.end(out);
    entry.sent = out.byteLength;
  }
}
