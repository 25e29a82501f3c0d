/**
 * Second phase of a torch-zip install: the verified raw bytes staged in storage (['raw', …] blocks) are read back
 * as a ByteSource, the checkpoint's state dict is parsed (torch-zip.ts: central directory, safe unpickler), and
 * each tensor is converted to the storage precision and stored. Idempotent: a crash midway re-runs it, each
 * tensor overwriting its own keys. The staged blocks are deleted afterwards by the caller.
 */
import { checkRange, type ByteSource } from '../formats/byte-source';
import { encodeForStorage } from '../store/tensor-codec';
import type { ManifestFile } from '../catalog/manifest';
import type { WeightsStorage } from '../store/storage';
import { forEachTorchTensor } from '../formats/torch-zip';

function stagedSource(storage: WeightsStorage, modelId: string, path: string, size: number): ByteSource {
  return {
    size: async () => size,
    read: async (offset, length) => {
      checkRange(offset, length, size);
      return storage.readRaw(modelId, path, storage.chunkBytes, offset, length);
    },
  };
}

/** Converts a staged torch zip checkpoint into stored tensors; returns their count and stored bytes. */
export async function convertStagedTorchZip(storage: WeightsStorage, modelId: string, file: ManifestFile, size: number,
  onTensor?: (name: string) => void): Promise<{ tensorCount: number; storedBytes: number }> {
  let tensorCount = 0;
  let storedBytes = 0;
  await forEachTorchTensor(stagedSource(storage, modelId, file.path, size), async (name, info, bytes) => {
    const stored = encodeForStorage({ name, dtype: info.dtype, shape: info.shape, bytes }, file.precision ?? 'fp32');
    storedBytes += await storage.commit(modelId, file.path, { tensors: [stored] });
    tensorCount++;
    onTensor?.(name);
  });
  return { tensorCount, storedBytes };
}
