import { createXXHash128, type IHasher } from 'hash-wasm';

/**
 * XXH128 of stored tensor bytes (TensorRecord.xxh128): a storage checksum, not a security hash — the file's sha256
 * is checked as it arrives; this only has to catch damage at rest, which a non-cryptographic hash does far faster.
 * One hasher per thread serves the encoder, the commit and verify (each digest is computed synchronously).
 */
let hasher: Promise<IHasher> | undefined;

export async function storedChecksum(): Promise<(bytes: Uint8Array) => string> {
  const h = await (hasher ??= createXXHash128());
  return (bytes) => h.init().update(bytes).digest('hex');
}
