/**
 * A real static HTTP server on 127.0.0.1 for the download tests: serves a folder with Content-Length, a strong
 * ETag, single-range `Range: bytes=N-` / `bytes=N-M` (206 + Content-Range), `If-Range`, 416, and one-shot fault
 * injection per path. Every request is logged with what was actually sent.
 *
 * With `signing` on it also behaves like the Hugging Face Hub: a file's URL answers 302 to a signed URL on another
 * origin (localhost instead of 127.0.0.1, under /cdn/, with a signature query), whatever the Range; only the signed
 * URL serves bytes (and ranges), and `expireSignedUrls()` makes every signature issued so far answer 403.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { hubRevisionRecord, type HubRevisionRecord } from './hub-revision-record';

export type Fault =
  /** Sends the headers and `bytes` body bytes (flushed), then destroys the socket. */
  | { kind: 'drop'; bytes: number }
  /** Answers a Range request with 200 and the whole file. */
  | { kind: 'ignore-range' }
  /** Answers a Range request with 206 whose Content-Range (and body) start `shift` bytes off. */
  | { kind: 'wrong-content-range'; shift: number }
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  /** Sends the whole body gzip-encoded (Content-Encoding: gzip; Content-Length is the compressed length). */
  | { kind: 'gzip' }
  /** Sends the body in pieces of `bytes` with `delayMs` between them (for pause / cancel tests). */
  | { kind: 'slow'; bytes: number; delayMs: number };

export interface LoggedRequest {
  path: string;
  range?: string;
  ifRange?: string;
  status: number;
  /** First file offset of the body sent. */
  start: number;
  /** Body bytes written to the socket. */
  sent: number;
  fault?: Fault['kind'];
  /** Served from a signed (Hub CDN) URL. */
  signed?: boolean;
}

export class TestFileServer {
  readonly log: LoggedRequest[] = [];
  private readonly faults = new Map<string, Fault[]>();
  private server: Server | undefined;
  /** Files overriding the folder (path → bytes), e.g. a changed file. */
  readonly overrides = new Map<string, Uint8Array>();
  /** Hub mode (see above). */
  signing = false;
  private signatureGeneration = 0;

  expireSignedUrls(): void {
    this.signatureGeneration++;
  }

  constructor(private readonly root: string) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** Queues a one-shot fault for the next request of `path` (URL path, e.g. "/tiny-sd/vae/config.json"). */
  fault(path: string, f: Fault): void {
    const q = this.faults.get(path) ?? [];
    q.push(f);
    this.faults.set(path, q);
  }

  /** The commit id the Hub API reports. */
  readonly commit = 'c0ffee0123456789abcdef0123456789abcdef01';

  /** Whether the Hub's revision record gives each file's size (false: only the LFS sha256). */
  hubRecordSizes = true;

  /** The Hub's `/api/models/{owner}/{name}/revision/{rev}?blobs=true` for the folder `name`. */
  private revisionRecord(repo: string): Promise<HubRevisionRecord> {
    const dir = join(this.root, normalize(repo.split('/').at(-1)!).replace(/^(\.\.[/\\])+/, ''));
    return hubRevisionRecord(repo, dir, this.commit, { sizes: this.hubRecordSizes });
  }

  requestsFor(path: string): LoggedRequest[] {
    return this.log.filter((r) => r.path === path);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    let path = decodeURIComponent(url.pathname);
    const entry: LoggedRequest = { path, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, status: 0, start: 0, sent: 0 };
    this.log.push(entry);
    const api = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(path);
    if (api) {
      const fault = this.faults.get(path)?.shift();
      if (fault?.kind === 'status') return this.finish(res, entry, fault.status, fault.headers ?? {}, new Uint8Array(0));
      return this.finish(res, entry, 200, { 'Content-Type': 'application/json' }, new TextEncoder().encode(JSON.stringify(await this.revisionRecord(api[1]!))));
    }
    if (this.signing) {
      if (!path.startsWith('/cdn/')) {
        const port = (this.server!.address() as AddressInfo).port;
        const signed = `http://localhost:${port}/cdn${url.pathname}?X-Amz-Signature=${this.signatureGeneration}-${Math.random().toString(16).slice(2)}`;
        return this.finish(res, entry, 302, { Location: signed }, new Uint8Array(0));
      }
      path = path.slice('/cdn'.length);
      entry.path = path;
      entry.signed = true;
      const sig = url.searchParams.get('X-Amz-Signature') ?? '';
      if (sig.split('-')[0] !== String(this.signatureGeneration)) return this.finish(res, entry, 403, {}, new TextEncoder().encode('Request has expired'));
    }
    const fault = this.faults.get(path)?.shift();
    if (fault) entry.fault = fault.kind;
    let body: Uint8Array;
    let etag: string;
    try {
      const override = this.overrides.get(path);
      if (override) {
        body = override;
        etag = `"override-${override.byteLength}"`;
      } else {
        const file = join(this.root, normalize(path).replace(/^(\.\.[/\\])+/, ''));
        const st = await stat(file);
        body = new Uint8Array(await readFile(file));
        etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
      }
    } catch {
      return this.finish(res, entry, 404, {}, new Uint8Array(0));
    }
    if (fault?.kind === 'status') return this.finish(res, entry, fault.status, fault.headers ?? {}, new Uint8Array(0));
    if (fault?.kind === 'gzip') {
      return this.finish(res, entry, 200, { ETag: etag, 'Content-Encoding': 'gzip' }, new Uint8Array(gzipSync(body)));
    }
    const headers: Record<string, string> = { ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRangeOk = req.headers['if-range'] === undefined || req.headers['if-range'] === etag;
    if (m && ifRangeOk && fault?.kind !== 'ignore-range') {
      const start = Number(m[1]);
      const end = m[2] ? Math.min(Number(m[2]), body.byteLength - 1) : body.byteLength - 1;
      if (start >= body.byteLength) {
        return this.finish(res, entry, 416, { 'Content-Range': `bytes */${body.byteLength}` }, new Uint8Array(0));
      }
      const shift = fault?.kind === 'wrong-content-range' ? fault.shift : 0;
      const s = Math.max(0, start + shift);
      headers['Content-Range'] = `bytes ${s}-${end}/${body.byteLength}`;
      entry.start = s;
      return this.finish(res, entry, 206, headers, body.subarray(s, end + 1), fault);
    }
    return this.finish(res, entry, 200, headers, body, fault);
  }

  private async finish(res: ServerResponse, entry: LoggedRequest, status: number, headers: Record<string, string>,
    body: Uint8Array, fault?: Fault): Promise<void> {
    entry.status = status;
    res.writeHead(status, { ...headers, 'Content-Length': String(body.byteLength) });
    if (fault?.kind === 'drop') {
      const part = body.subarray(0, Math.min(fault.bytes, body.byteLength));
      await new Promise<void>((resolve) => res.write(part, () => resolve()));
      entry.sent = part.byteLength;
      // give the bytes time to reach the client before the connection breaks
      await new Promise((r) => setTimeout(r, 30));
      res.socket?.destroy();
      return;
    }
    if (fault?.kind === 'slow') {
      for (let at = 0; at < body.byteLength; at += fault.bytes) {
        if (res.destroyed || res.socket?.destroyed) return;
        const piece = body.subarray(at, at + fault.bytes);
        await new Promise<void>((resolve) => res.write(piece, () => resolve()));
        entry.sent += piece.byteLength;
        await new Promise((r) => setTimeout(r, fault.delayMs));
      }
      res.end();
      return;
    }
    res.end(body);
    entry.sent = body.byteLength;
  }
}
