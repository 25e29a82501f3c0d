/**
 * A random-access source of bytes: the one abstraction the checkpoint readers (safetensors, torch zip) need, so
 * that a file can be read from memory, from a browser Blob/File, or over HTTP Range requests without ever holding
 * the whole file.
 */
export interface ByteSource {
  size(): Promise<number>;
  /** Exactly `length` bytes starting at `offset`; rejects when the range is outside the source. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export class ByteSourceError extends Error {
  override name = 'ByteSourceError';
}

export function checkRange(offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new ByteSourceError(`read of ${length} bytes at offset ${offset} is outside the source (${size} bytes): file truncated?`);
  }
}

/** A source over bytes already in memory (tests, small files). Reads are zero-copy views. */
export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: async () => bytes.byteLength,
    read: async (offset, length) => {
      checkRange(offset, length, bytes.byteLength);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A source over a Blob or File (browser file picker, OPFS file): each read is one `slice().arrayBuffer()`. */
export function blobSource(blob: Blob): ByteSource {
  return {
    size: async () => blob.size,
    read: async (offset, length) => {
      checkRange(offset, length, blob.size);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

type FetchFn = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * A source over HTTP Range requests. The size comes from a HEAD request's Content-Length (or a 1-byte range's
 * Content-Range when HEAD gives none). A server that ignores Range (status 200) is an error, not a silent
 * full download.
 */
export function httpRangeSource(url: string, fetchFn: FetchFn = (u, i) => fetch(u, i)): ByteSource {
  let sizePromise: Promise<number> | undefined;
  const size = (): Promise<number> => (sizePromise ??= fetchSize(url, fetchFn));
  return {
    size,
    read: async (offset, length) => {
      checkRange(offset, length, await size());
      if (length === 0) return new Uint8Array(0);
      const res = await fetchFn(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      if (res.status !== 206) throw new ByteSourceError(`range request to ${url} answered ${res.status}, expected 206 Partial Content`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.byteLength !== length) {
        throw new ByteSourceError(`range request to ${url} returned ${bytes.byteLength} bytes, expected ${length}`);
      }
      return bytes;
    },
  };
}

async function fetchSize(url: string, fetchFn: FetchFn): Promise<number> {
  const head = await fetchFn(url, { method: 'HEAD' });
  const len = Number(head.headers.get('content-length'));
  if (head.ok && Number.isSafeInteger(len) && len > 0) return len;
  const probe = await fetchFn(url, { headers: { Range: 'bytes=0-0' } });
  const total = /\/(\d+)$/.exec(probe.headers.get('content-range') ?? '')?.[1];
  await probe.arrayBuffer();
  if (!total) throw new ByteSourceError(`cannot learn the size of ${url} (no Content-Length, no Content-Range)`);
  return Number(total);
}
