/**
 * Resumable HTTP download of one file into a sink that consumes bytes in order.
 *
 * Resume protocol: a request from offset > 0 sends `Range: bytes=<offset>-` and, with a strong ETag known,
 * `If-Range: <etag>`. Only a 206 whose `Content-Range` starts exactly at the offset (and whose ETag, if any,
 * matches) continues the file. A 200 (server ignores Range, or If-Range saw a changed file), a 416, a 206 with
 * a wrong Content-Range or a changed ETag all make a CLEAN RESTART: the sink drops everything it has for the
 * file and consumes a full response from byte 0 (a wrong Content-Range is re-requested without Range).
 * Network errors, truncated bodies, 408/429/5xx are retried with exponential backoff (at least what a
 * `Retry-After` asks, up to `maxRetryAfterMs`), at most `retries` times in a row without progress. Aborting the
 * signal (pause / cancel) stops at once with the signal's reason.
 *
 * Redirects (the Hub's `resolve` URLs answer 302 to a signed CDN URL on another origin): once a response came from
 * another URL than asked, later ranges are asked of that final URL directly. When it stops working (401/403/404/410:
 * its signature expired), the original URL is resolved again and the download resumes from the same byte.
 */

export interface ByteSink {
  /** Absolute offset of the next byte the sink needs (what a resume asks for). */
  readonly received: number;
  write(bytes: Uint8Array): Promise<void>;
  /** Drop everything received so far; the next write is byte 0. */
  restart(reason: RestartReason): Promise<void>;
}

export type RestartReason = 'range-ignored' | 'etag-changed' | 'bad-content-range' | 'range-not-satisfiable';

export type DownloadEvent =
  | { type: 'request'; url: string; offset: number }
  | { type: 'redirected'; url: string; final: string }
  | { type: 're-resolve'; url: string; final: string; status: number }
  | { type: 'restart'; url: string; reason: RestartReason; discardedBytes: number; detail: string }
  | { type: 'retry'; url: string; attempt: number; delayMs: number; error: string };

export interface RetryPolicy {
  /** Failures in a row (without a byte of progress) before giving up. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { retries: 5, baseDelayMs: 500, maxDelayMs: 15_000 };
/** The longest `Retry-After` wait honoured (a 429 asking for more gives up instead, saying so). */
const MAX_RETRY_AFTER_MS = 5 * 60_000;
const DEFAULT_STALL_TIMEOUT_MS = 30_000;

export type FetchFn = (url: string, init?: RequestInit) => Promise<Response>;

export interface DownloadOptions {
  /** ETag of the bytes the sink already holds (from a previous session), for If-Range. */
  etag?: string;
  /** Expected total size (manifest); a server announcing another size is an IntegrityError. */
  expectedSize?: number;
  signal?: AbortSignal;
  fetch?: FetchFn;
  retry?: Partial<RetryPolicy>;
  onEvent?: (e: DownloadEvent) => void;
  /**
   * A response whose headers or next body bytes take longer than this (ms) counts as a dropped connection: it is
   * cancelled and retried from the bytes received so far. Default 30 s.
   */
  stallTimeoutMs?: number;
  /** Called once the total size is known (first response), before any byte is written. */
  onSize?: (size: number, etag: string | undefined) => Promise<void> | void;
}

export interface DownloadResult {
  size: number;
  etag?: string;
}

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly url: string, readonly status: number, statusText: string, readonly retryAfterMs?: number) {
    super(`${url}: HTTP ${status} ${statusText}${retryAfterMs !== undefined ? ` (retry after ${Math.ceil(retryAfterMs / 1000)} s)` : ''}`.trim());
  }
  get retryable(): boolean {
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export class IntegrityError extends Error {
  override name = 'IntegrityError';
}

/** A body that ended before the announced length, or a broken connection: retryable. */
export class TruncatedError extends Error {
  override name = 'TruncatedError';
}

/** Downloads `url` into `sink`, starting at `sink.received`. Resolves when the whole file has been written. */
export async function downloadToSink(url: string, sink: ByteSink, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const policy = { ...DEFAULT_RETRY, ...opts.retry };
  const fetchFn: FetchFn = opts.fetch ?? ((u, i) => fetch(u, i));
  let etag = opts.etag;
  let size: number | undefined;
  let failures = 0;
  /** Where the bytes come from: `url`, or the URL it redirected to. */
  let target = url;
  let reResolvedAt = -1;
  for (;;) {
    opts.signal?.throwIfAborted();
    const before = sink.received;
    try {
      const res = await openFrom(target, sink.received, etag, fetchFn, opts);
      if (res.finalUrl && res.finalUrl !== target) {
        opts.onEvent?.({ type: 'redirected', url, final: res.finalUrl });
        target = res.finalUrl;
      }
      if (res.start === 0 && sink.received > 0) {
        const discarded = sink.received;
        opts.onEvent?.({ type: 'restart', url, reason: res.restartReason!, discardedBytes: discarded, detail: res.detail ?? '' });
        await sink.restart(res.restartReason!);
      }
      if (size === undefined || res.start === 0) {
        if (opts.expectedSize !== undefined && res.total !== undefined && res.total !== opts.expectedSize) {
          await res.body.cancel().catch(() => {});
          throw new IntegrityError(`${url}: server says ${res.total} bytes, the manifest expects ${opts.expectedSize}: wrong or changed file`);
        }
        size = res.total ?? opts.expectedSize;
        if (size === undefined) {
          // No length (e.g. a gzip-encoded config): read it whole, then its length is the size. Bounded, since
          // only small text files are served this way; nothing reaches the sink until the body is complete.
          const all = await readAll(res.body, MAX_UNSIZED_BYTES, url);
          await opts.onSize?.(all.byteLength, res.etag);
          await sink.write(all);
          return { size: all.byteLength, etag: res.etag };
        }
        await opts.onSize?.(size, res.etag);
      }
      etag = res.etag;
      await pump(res.body, sink, size, opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS, url, opts.signal);
      if (sink.received !== size) throw new TruncatedError(`${url}: body ended at byte ${sink.received} of ${size}`);
      return { size, etag };
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? e;
      if (sink.received > before) failures = 0;
      if (target !== url && e instanceof HttpError && EXPIRED.includes(e.status) && reResolvedAt !== sink.received) {
        // the signed URL expired (or was revoked): resolve the original again, once per byte position
        opts.onEvent?.({ type: 're-resolve', url, final: target, status: e.status });
        target = url;
        reResolvedAt = sink.received;
        continue;
      }
      if (!isRetryable(e)) throw e;
      failures++;
      if (failures > policy.retries) {
        throw new Error(`${url}: giving up after ${policy.retries} retries at byte ${sink.received}: ${(e as Error).message}`, { cause: e });
      }
      const retryAfter = e instanceof HttpError ? e.retryAfterMs : undefined;
      if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) {
        throw new Error(`${url}: the server asks to wait ${Math.ceil(retryAfter / 60_000)} min before retrying (rate limited); try again later`, { cause: e });
      }
      const delayMs = Math.max(retryAfter ?? 0, Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failures - 1)));
      opts.onEvent?.({ type: 'retry', url, attempt: failures, delayMs, error: (e as Error).message });
      await sleep(delayMs, opts.signal);
    }
  }
}

/** Statuses of a signed URL that no longer works. */
const EXPIRED = [401, 403, 404, 410];

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function isRetryable(e: unknown): boolean {
  if (e instanceof HttpError) return e.retryable;
  if (e instanceof IntegrityError) return false;
  // fetch rejects with TypeError on network failures; a body read fails with TypeError ("terminated") in undici
  return e instanceof TruncatedError || e instanceof TypeError || (e as Error)?.name === 'NetworkError';
}

interface Opened {
  /** Offset of the body's first byte. */
  start: number;
  /** The URL the response came from, after redirects (when the fetch reports it). */
  finalUrl?: string;
  total: number | undefined;
  etag: string | undefined;
  body: ReadableStream<Uint8Array>;
  restartReason?: RestartReason;
  detail?: string;
}

async function openFrom(url: string, offset: number, etag: string | undefined, fetchFn: FetchFn, opts: DownloadOptions): Promise<Opened> {
  opts.onEvent?.({ type: 'request', url, offset });
  const headers: Record<string, string> = {};
  if (offset > 0) {
    headers.Range = `bytes=${offset}-`;
    if (etag && !etag.startsWith('W/')) headers['If-Range'] = etag; // If-Range needs a strong validator
  }
  const res = await fetchWithStallTimeout(url, { headers, cache: 'no-store' }, fetchFn, opts);
  const resEtag = res.headers.get('etag') ?? undefined;
  if (offset > 0 && res.status === 206) {
    // a Content-Range of an encoded body counts encoded bytes: useless for resuming the file
    const cr = isEncoded(res) ? undefined : parseContentRange(res.headers.get('content-range'));
    const etagChanged = etag !== undefined && resEtag !== undefined && resEtag !== etag;
    if (cr && cr.start === offset && (cr.total === undefined || cr.end === cr.total - 1) && !etagChanged) {
      return { start: offset, total: cr.total, etag: resEtag ?? etag, body: res.body!, finalUrl: res.url || undefined };
    }
    await res.body?.cancel().catch(() => {});
    const reason: RestartReason = etagChanged ? 'etag-changed' : 'bad-content-range';
    const detail = etagChanged
      ? `ETag ${etag} became ${resEtag}`
      : `asked for bytes ${offset}-, got Content-Range ${JSON.stringify(res.headers.get('content-range'))}`;
    return { ...(await openFull(url, fetchFn, opts)), restartReason: reason, detail };
  }
  if (offset > 0 && res.status === 416) {
    await res.body?.cancel().catch(() => {});
    return { ...(await openFull(url, fetchFn, opts)), restartReason: 'range-not-satisfiable', detail: 'HTTP 416' };
  }
  if (res.status === 200) {
    const reason: RestartReason = etag !== undefined && resEtag !== undefined && resEtag !== etag ? 'etag-changed' : 'range-ignored';
    return { ...fullFrom(res), restartReason: reason, detail: `HTTP 200 to a Range request from ${offset}` };
  }
  await res.body?.cancel().catch(() => {});
  throw new HttpError(url, res.status, res.statusText, parseRetryAfter(res.headers.get('retry-after')));
}

/** fetch() whose headers must arrive within the stall timeout; aborting `opts.signal` aborts it too. */
async function fetchWithStallTimeout(url: string, init: RequestInit, fetchFn: FetchFn, opts: DownloadOptions): Promise<Response> {
  const ms = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const ctl = new AbortController();
  // stays linked for the body's lifetime: a pause or cancel must also abort a body read in progress
  const onAbort = () => ctl.abort(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  const timer = setTimeout(() => ctl.abort(new TruncatedError(`${url}: no response for ${Math.round(ms / 1000)} s (stalled connection)`)), ms);
  try {
    return await fetchFn(url, { ...init, signal: ctl.signal });
  } catch (e) {
    // a timeout aborts with our TruncatedError (retryable); a pause/cancel keeps the caller's reason
    throw ctl.signal.aborted && !opts.signal?.aborted ? ctl.signal.reason : e;
  } finally {
    clearTimeout(timer);
  }
}

async function openFull(url: string, fetchFn: FetchFn, opts: DownloadOptions): Promise<Opened> {
  opts.onEvent?.({ type: 'request', url, offset: 0 });
  const res = await fetchWithStallTimeout(url, { cache: 'no-store' }, fetchFn, opts);
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new HttpError(url, res.status, res.statusText, parseRetryAfter(res.headers.get('retry-after')));
  }
  return fullFrom(res);
}

function fullFrom(res: Response): Opened {
  const len = res.headers.get('content-length');
  // A compressed body's Content-Length is not the file size.
  const total = len !== null && !isEncoded(res) && /^\d+$/.test(len) ? Number(len) : undefined;
  return { start: 0, total, etag: res.headers.get('etag') ?? undefined, body: res.body!, finalUrl: res.url || undefined };
}

function isEncoded(res: Response): boolean {
  return (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
}

/** Largest body accepted without a known length. */
const MAX_UNSIZED_BYTES = 64 * 1024 * 1024;

async function readAll(body: ReadableStream<Uint8Array>, max: number, url: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > max) throw new IntegrityError(`${url}: no Content-Length and more than ${max} bytes: give the file a size in the manifest`);
      parts.push(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Parses `bytes <start>-<end>/<total|*>`. */
function parseContentRange(v: string | null): { start: number; end: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

async function pump(body: ReadableStream<Uint8Array>, sink: ByteSink, size: number, stallMs: number, url: string,
  signal?: AbortSignal): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await withStallTimeout(reader.read(), stallMs,
        () => new TruncatedError(`${url}: no data for ${Math.round(stallMs / 1000)} s at byte ${sink.received} (stalled connection)`));
      if (done) return;
      if (sink.received + value.byteLength > size) {
        throw new IntegrityError(`body is longer than the announced ${size} bytes`);
      }
      await sink.write(value);
      signal?.throwIfAborted();
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** `p`, or a rejection with `error()` when it takes longer than `ms`. */
function withStallTimeout<T>(p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(error()), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(t);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
