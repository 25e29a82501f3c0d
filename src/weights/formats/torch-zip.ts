/**
 * Reader for PyTorch zip checkpoints (`torch.save` since 1.6: `.pt` / `.pth` / `.bin`): a zip holding
 * `<archive>/data.pkl` (the pickled object), `<archive>/data/<key>` (one file of raw little-endian bytes per
 * storage), `<archive>/version` and, since torch 2, `<archive>/byteorder`. The pickle is read by the safe
 * unpickler with an allow-list of exactly the globals a state dict needs; tensors come back as references
 * (storage, offset, shape, stride) and their bytes are read one tensor at a time over a ByteSource.
 */
import type { ByteSource } from './byte-source';
import { decodeTensorBytes, DTYPE_BYTES, type HostTensor, type SafetensorsDtype } from './safetensors';
import { PickleGlobal, unpickle, UnpicklingError } from './unpickle';
import { readStoredRange, readZipDirectory, readZipEntry, type ZipDirectory, type ZipEntry } from './zip';

export class TorchCheckpointError extends Error {
  override name = 'TorchCheckpointError';
}

/** `torch.<Name>Storage` classes → element dtype. Complex and quantized storages are deliberately absent. */
export const STORAGE_DTYPES: Record<string, SafetensorsDtype> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

export class TorchStorageRef {
  constructor(readonly key: string, readonly dtype: SafetensorsDtype, readonly numel: number, readonly location: string) {}
}

export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorageRef,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}

  get dtype(): SafetensorsDtype {
    return this.storage.dtype;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Row-major contiguous (dimensions of size 1 may have any stride, as in torch). */
  get isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.stride[i] !== expected) return false;
      expected *= this.shape[i]!;
    }
    return true;
  }
}

/** torch.FloatStorage & co.: not callable, only named inside persistent ids. */
class StorageTypeGlobal extends PickleGlobal {
  constructor(name: string, readonly dtype: SafetensorsDtype) {
    super('torch', name);
  }
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isIndexTuple = (v: unknown): v is number[] => Array.isArray(v) && v.every(isIndex);

function rebuildTensor(args: readonly unknown[]): TorchTensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof TorchStorageRef)) throw new TorchCheckpointError('first argument is not a storage');
  if (!isIndex(offset)) throw new TorchCheckpointError(`bad storage offset ${String(offset)}`);
  if (!isIndexTuple(size) || !isIndexTuple(stride) || size.length !== stride.length || size.length > 64) {
    throw new TorchCheckpointError(`bad size ${JSON.stringify(size)} / stride ${JSON.stringify(stride)}`);
  }
  const t = new TorchTensorRef(storage, offset, [...size], [...stride]);
  const numel = t.numel;
  if (!Number.isSafeInteger(numel * DTYPE_BYTES[storage.dtype])) throw new TorchCheckpointError(`shape ${JSON.stringify(size)} is too large`);
  if (numel > 0) {
    const last = size.reduce((acc, s, i) => acc + (s - 1) * stride[i]!, offset);
    if (!Number.isSafeInteger(last) || last >= storage.numel) {
      throw new TorchCheckpointError(`view (offset ${offset}, size ${JSON.stringify(size)}, stride ${JSON.stringify(stride)}) reaches element ${last} of a storage of ${storage.numel}`);
    }
  }
  return t;
}

function newOrderedDict(args: readonly unknown[]): Map<unknown, unknown> {
  if (args.length === 0) return new Map();
  throw new TorchCheckpointError('OrderedDict with constructor arguments is not expected in a checkpoint');
}

/** The allow-list: everything else (os.system, builtins.eval, numpy, custom classes…) is rejected by name. */
function torchGlobals(): (module: string, name: string) => PickleGlobal | undefined {
  const table = new Map<string, PickleGlobal>([
    ['collections.OrderedDict', new PickleGlobal('collections', 'OrderedDict', newOrderedDict)],
    ['torch._utils._rebuild_tensor_v2', new PickleGlobal('torch._utils', '_rebuild_tensor_v2', (a) => {
      if (a.length < 6 || a.length > 7 || typeof a[4] !== 'boolean') throw new TorchCheckpointError('expects (storage, offset, size, stride, requires_grad, hooks[, metadata])');
      return rebuildTensor(a);
    })],
    ['torch._utils._rebuild_tensor', new PickleGlobal('torch._utils', '_rebuild_tensor', (a) => {
      if (a.length !== 4) throw new TorchCheckpointError('expects (storage, offset, size, stride)');
      return rebuildTensor(a);
    })],
    ['torch._utils._rebuild_parameter', new PickleGlobal('torch._utils', '_rebuild_parameter', (a) => {
      if (a.length !== 3 || !(a[0] instanceof TorchTensorRef)) throw new TorchCheckpointError('expects (tensor, requires_grad, hooks)');
      return a[0];
    })],
    ['torch._utils._rebuild_parameter_with_state', new PickleGlobal('torch._utils', '_rebuild_parameter_with_state', (a) => {
      if (a.length !== 4 || !(a[0] instanceof TorchTensorRef)) throw new TorchCheckpointError('expects (tensor, requires_grad, hooks, state)');
      return a[0];
    })],
  ]);
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) table.set(`torch.${name}`, new StorageTypeGlobal(name, dtype));
  return (module, name) => table.get(`${module}.${name}`);
}

/** persistent_load for ('storage', torch.XStorage, key, location, numel); one TorchStorageRef per key. */
function storageLoader(): (pid: unknown) => TorchStorageRef {
  const byKey = new Map<string, TorchStorageRef>();
  return (pid) => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
      throw new UnpicklingError(`unsupported persistent id ${describePid(pid)}`);
    }
    const [, type, key, location, numel] = pid as unknown[];
    const storageType = type;
    if (!(storageType instanceof StorageTypeGlobal)) throw new UnpicklingError('persistent id names no torch storage type');
    if (typeof key !== 'string' || !/^[\w.-]{1,64}$/.test(key) || typeof location !== 'string' || !isIndex(numel)) {
      throw new UnpicklingError(`malformed storage id ${describePid(pid)}`);
    }
    const known = byKey.get(key);
    if (known) {
      if (known.dtype !== storageType.dtype || known.numel !== numel) throw new UnpicklingError(`storage "${key}" is described twice, differently`);
      return known;
    }
    const ref = new TorchStorageRef(key, storageType.dtype, numel, location);
    byKey.set(key, ref);
    return ref;
  };
}

function describePid(pid: unknown): string {
  try {
    return JSON.stringify(pid, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof PickleGlobal ? v.fullName : v)).slice(0, 200);
  } catch {
    return String(pid);
  }
}

/** Unpickles a checkpoint's data.pkl with the state-dict allow-list (tensors become TorchTensorRef). */
export function unpickleCheckpoint(pkl: Uint8Array): unknown {
  return unpickle(pkl, { findGlobal: torchGlobals(), persistentLoad: storageLoader() });
}

export interface TorchCheckpoint {
  /** The unpickled object: nested Map / arrays / primitives with TorchTensorRef leaves. */
  root: unknown;
  /** Archive folder inside the zip, with its trailing slash (e.g. "archive/"). */
  prefix: string;
  /** Serialization format version (the `version` record), when present. */
  version: number | undefined;
  /** The tensor's elements, contiguous row-major little-endian bytes of its dtype (strided views are gathered). */
  readTensorBytes(t: TorchTensorRef): Promise<Uint8Array>;
  /** Decoded like parseSafetensors: floats → Float32Array, ints → Int32Array. */
  readTensor(t: TorchTensorRef): Promise<HostTensor>;
}

export interface OpenOptions {
  /**
   * Check each whole storage's CRC-32 (default true; it reads every byte in JS). A caller that verifies the file's
   * sha256 anyway (the downloader, against its manifest) may turn it off.
   */
  verifyCrc?: boolean;
}

/** Opens a torch zip checkpoint: reads the zip directory and the pickle (small), no tensor data yet. */
export async function openTorchCheckpoint(src: ByteSource, { verifyCrc = true }: OpenOptions = {}): Promise<TorchCheckpoint> {
  const size = await src.size();
  const magic = await src.read(0, Math.min(2, size));
  if (magic[0] === 0x80 && magic[1] !== undefined && magic[1] <= 5) {
    throw new TorchCheckpointError('this is a legacy (pre-1.6, non-zip) torch checkpoint; re-save it with a recent torch.save');
  }
  const dir = await readZipDirectory(src);
  const pkls = dir.entries.filter((e) => /^([^/]+\/)?data\.pkl$/.test(e.name));
  if (pkls.length !== 1) throw new TorchCheckpointError(`expected one <archive>/data.pkl in the zip, found ${pkls.length}`);
  const prefix = pkls[0]!.name.slice(0, -'data.pkl'.length);
  const byteorder = dir.byName.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(await readZipEntry(src, byteorder)).trim();
    if (order !== 'little') throw new TorchCheckpointError(`checkpoint byte order is "${order}"; only little-endian checkpoints are supported`);
  }
  const versionEntry = dir.byName.get(`${prefix}version`) ?? dir.byName.get(`${prefix}.data/version`);
  const version = versionEntry && versionEntry.size < 32
    ? Number.parseInt(new TextDecoder().decode(await readZipEntry(src, versionEntry)), 10) : undefined;
  const root = unpickleCheckpoint(await readZipEntry(src, pkls[0]!));
  const readTensorBytes = (t: TorchTensorRef): Promise<Uint8Array> => tensorBytes(src, dir, prefix, t, verifyCrc);
  return {
    root, prefix, version, readTensorBytes,
    readTensor: async (t) => ({ dtype: t.dtype, shape: t.shape, data: decodeTensorBytes(t.dtype, await readTensorBytes(t)) }),
  };
}

async function tensorBytes(src: ByteSource, dir: ZipDirectory, prefix: string, t: TorchTensorRef, verifyCrc: boolean)
  : Promise<Uint8Array> {
  const entry = storageEntry(dir, prefix, t.storage);
  const es = DTYPE_BYTES[t.dtype];
  const numel = t.numel;
  if (numel === 0) return new Uint8Array(0);
  const whole = t.isContiguous && t.storageOffset === 0 && numel === t.storage.numel;
  if (whole || entry.method !== 0) { // whole storages are read with their CRC checked
    const all = await readZipEntry(src, entry, { verifyCrc });
    return t.isContiguous ? all.subarray(t.storageOffset * es, (t.storageOffset + numel) * es) : gather(all, 0, t, es);
  }
  const last = t.shape.reduce((acc, s, i) => acc + (s - 1) * t.stride[i]!, t.storageOffset);
  const span = await readStoredRange(src, entry, t.storageOffset * es, (last - t.storageOffset + 1) * es);
  return t.isContiguous ? span : gather(span, t.storageOffset, t, es);
}

function storageEntry(dir: ZipDirectory, prefix: string, s: TorchStorageRef): ZipEntry {
  const entry = dir.byName.get(`${prefix}data/${s.key}`);
  if (!entry) throw new TorchCheckpointError(`storage "${s.key}" (${prefix}data/${s.key}) is missing from the zip`);
  if (entry.size !== s.numel * DTYPE_BYTES[s.dtype]) {
    throw new TorchCheckpointError(`storage "${s.key}" holds ${entry.size} bytes, its ${s.numel} × ${s.dtype} elements need ${s.numel * DTYPE_BYTES[s.dtype]}`);
  }
  return entry;
}

/** Copies a strided view into contiguous row-major order; `base` is the element index `bytes` starts at. */
function gather(bytes: Uint8Array, base: number, t: TorchTensorRef, es: number): Uint8Array {
  const out = new Uint8Array(t.numel * es);
  const rank = t.shape.length;
  const idx = new Array<number>(rank).fill(0);
  let src = t.storageOffset - base;
  for (let o = 0; o < out.byteLength; o += es) {
    out.set(bytes.subarray(src * es, src * es + es), o);
    for (let d = rank - 1; d >= 0; d--) { // odometer over the multi-index
      if (++idx[d]! < t.shape[d]!) { src += t.stride[d]!; break; }
      src -= (t.shape[d]! - 1) * t.stride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

export interface TensorDict {
  /** Keys leading from the root to this dict (e.g. ['state_dict']); [] for the root itself. */
  path: string[];
  tensors: Map<string, TorchTensorRef>;
}

/**
 * Every dict in the checkpoint whose values are all tensors (a state dict), found breadth-first with a depth limit
 * and cycle protection. Callers pick one (or use pickStateDict).
 */
export function findTensorDicts(root: unknown, maxDepth = 16): TensorDict[] {
  const found: TensorDict[] = [];
  const seen = new Set<unknown>();
  const queue: { v: unknown; path: string[] }[] = [{ v: root, path: [] }];
  while (queue.length) {
    const { v, path } = queue.shift()!;
    if (!(v instanceof Map) || seen.has(v) || path.length > maxDepth) continue;
    seen.add(v);
    const values = [...v.values()];
    if (values.length && values.every((x) => x instanceof TorchTensorRef) && [...v.keys()].every((k) => typeof k === 'string')) {
      found.push({ path, tensors: v as Map<string, TorchTensorRef> });
      continue;
    }
    for (const [k, x] of v) if (typeof k === 'string' && x instanceof Map) queue.push({ v: x, path: [...path, k] });
  }
  return found;
}

/**
 * The state dict of a checkpoint: at `path` when given; otherwise the root when it is one, else the unique tensor
 * dict, else the one under 'state_dict' / 'model' / 'module'. Ambiguity is an error listing the candidates.
 */
export function pickStateDict(root: unknown, path?: string[]): Map<string, TorchTensorRef> {
  const dicts = findTensorDicts(root);
  if (path) {
    const hit = dicts.find((d) => d.path.join('\u0000') === path.join('\u0000'));
    if (!hit) throw new TorchCheckpointError(`no tensor dict at ${JSON.stringify(path)}; found ${describeDicts(dicts)}`);
    return hit.tensors;
  }
  if (dicts.length === 1) return dicts[0]!.tensors;
  for (const key of ['state_dict', 'model', 'module']) {
    const hit = dicts.find((d) => d.path.length === 1 && d.path[0] === key);
    if (hit) return hit.tensors;
  }
  throw new TorchCheckpointError(dicts.length ? `several tensor dicts: ${describeDicts(dicts)}; pass a path` : 'the checkpoint holds no dict of tensors');
}

function describeDicts(dicts: TensorDict[]): string {
  return dicts.map((d) => `${JSON.stringify(d.path)} (${d.tensors.size} tensors)`).join(', ') || 'none';
}

/**
 * Calls `onTensor` for each tensor of the chosen state dict, one at a time (only one tensor's bytes in memory),
 * with contiguous little-endian bytes — the same contract as the safetensors stream parser.
 */
export async function forEachTorchTensor(src: ByteSource,
  onTensor: (name: string, info: { dtype: SafetensorsDtype; shape: number[] }, bytes: Uint8Array) => Promise<void> | void,
  path?: string[], options: OpenOptions = {}): Promise<void> {
  const ckpt = await openTorchCheckpoint(src, options);
  for (const [name, t] of pickStateDict(ckpt.root, path)) {
    await onTensor(name, { dtype: t.dtype, shape: t.shape }, await ckpt.readTensorBytes(t));
  }
}

/** Loads a whole state dict as host tensors (small checkpoints such as the aesthetic head). */
export async function loadTorchStateDict(src: ByteSource, path?: string[], options: OpenOptions = {}): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  await forEachTorchTensor(src, (name, info, bytes) => {
    out.set(name, { dtype: info.dtype, shape: info.shape, data: decodeTensorBytes(info.dtype, bytes) });
  }, path, options);
  return out;
}
