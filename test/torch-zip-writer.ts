/**
 * Writes PyTorch zip checkpoints the way `torch.save` (1.6–1.13, format version 3) does, byte for byte: a pickle
 * (protocol 2, with Python's memo numbering) of the object, whose tensors are `_rebuild_tensor_v2` calls over
 * persistent storage ids; storages as `data/<key>` records sorted by key; stored (uncompressed) zip entries whose
 * data is 64-byte aligned through an "FB" padding extra field; data descriptors; a zip64 end record. Used to make
 * test checkpoints without Python torch, and to check the reader against torch's layout.
 */
import { DTYPE_BYTES, type SafetensorsDtype } from '../src/weights/formats/safetensors';
import { STORAGE_DTYPES } from '../src/weights/formats/torch-zip';
import { crc32 } from '../src/weights/formats/zip';

/** A storage: one `data/<key>` record. Tensors sharing a storage object share the record (views). */
export interface TorchStorageData {
  dtype: SafetensorsDtype;
  bytes: Uint8Array;
}

export interface TorchTensorData {
  storage: TorchStorageData;
  storageOffset: number;
  shape: number[];
  stride: number[];
}

/** A collections.OrderedDict, optionally with a state dict's `_metadata` (module prefix → module version). */
export class OrderedDictValue {
  constructor(readonly items: Map<string, PickleWritable | MetadataEntry>, readonly metadata?: [string, number][]) {}
}

/** A module's entry in a state dict's `_metadata`. */
class MetadataEntry {
  constructor(readonly version: number) {}
}

export type PickleWritable = TorchTensorData | OrderedDictValue | Map<string, PickleWritable> | string | number | boolean | null;

export function contiguousTensor(dtype: SafetensorsDtype, shape: number[], bytes: Uint8Array): TorchTensorData {
  const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { storage: { dtype, bytes }, storageOffset: 0, shape, stride };
}

export interface TorchSaveOptions {
  /** Folder inside the zip; torch.save uses the file's base name without extension. */
  archiveName?: string;
  /** Also write torch 2's `byteorder` record ('big' only to test that readers refuse it: the bytes stay little-endian). */
  byteorder?: boolean | 'little' | 'big';
}

/** Serializes `obj` as torch.save(obj, '<archiveName>.pt') would. */
export function writeTorchCheckpoint(obj: PickleWritable, { archiveName = 'archive', byteorder = false }: TorchSaveOptions = {}): Uint8Array {
  const pickler = new StateDictPickler();
  const pkl = pickler.dump(obj);
  const zip = new TorchZipWriter(archiveName);
  zip.add('data.pkl', pkl);
  if (byteorder) zip.add('byteorder', new TextEncoder().encode(byteorder === true ? 'little' : byteorder));
  for (const [key, storage] of [...pickler.storages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) zip.add(`data/${key}`, storage.bytes);
  zip.add('version', new TextEncoder().encode('3\n'));
  return zip.finish();
}

const STORAGE_NAME_OF = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([name, dtype]) => [dtype, name])) as Record<SafetensorsDtype, string>;

/** Python's pickle protocol 2 output for the objects a checkpoint holds, with CPython's memo identity rules. */
class StateDictPickler {
  readonly storages = new Map<string, TorchStorageData>();
  private out: number[] = [];
  private memoSize = 0;
  private globalMemo = new Map<string, number>();
  /** Interned strings (literals in torch's source: 'storage', 'cpu', 'version', '') and storage keys. */
  private stringMemo = new Map<string, number>();
  private storageKeys = new Map<TorchStorageData, string>();

  dump(obj: PickleWritable): Uint8Array {
    this.out.push(0x80, 2);
    this.save(obj);
    this.out.push(0x2e);
    return Uint8Array.from(this.out);
  }

  private save(v: PickleWritable | MetadataEntry): void {
    if (v === null) this.out.push(0x4e);
    else if (typeof v === 'boolean') this.out.push(v ? 0x88 : 0x89);
    else if (typeof v === 'number') this.int(v);
    else if (typeof v === 'string') this.str(v);
    else if (v instanceof OrderedDictValue) this.orderedDict(v);
    else if (v instanceof Map) this.dict(v);
    else if (v instanceof MetadataEntry) this.metadataEntry(v);
    else this.tensor(v);
  }

  /** A module's local metadata {'version': n}: a plain dict whose key is an interned literal. */
  private metadataEntry(m: MetadataEntry): void {
    this.out.push(0x7d);
    this.memoize();
    this.internedStr('version');
    this.int(m.version);
    this.out.push(0x73);
  }

  private memoize(): number {
    const i = this.memoSize++;
    if (i < 256) this.out.push(0x71, i);
    else this.out.push(0x72, ...le(i, 4));
    return i;
  }

  private get(i: number): void {
    if (i < 256) this.out.push(0x68, i);
    else this.out.push(0x6a, ...le(i, 4));
  }

  private int(v: number): void {
    if (!Number.isInteger(v)) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v, false);
      this.out.push(0x47, ...b);
    } else if (v >= 0 && v < 256) this.out.push(0x4b, v);
    else if (v >= 0 && v < 65536) this.out.push(0x4d, ...le(v, 2));
    else if (v >= -(2 ** 31) && v < 2 ** 31) this.out.push(0x4a, ...le(v >>> 0, 4));
    else this.long1(BigInt(v));
  }

  private long1(v: bigint): void {
    const bytes: number[] = [];
    let x = v;
    do { bytes.push(Number(x & 0xffn)); x >>= 8n; } while (x !== 0n && x !== -1n);
    if ((bytes[bytes.length - 1]! & 0x80) !== (v < 0n ? 0x80 : 0)) bytes.push(v < 0n ? 0xff : 0);
    this.out.push(0x8a, bytes.length, ...bytes);
  }

  /** A fresh str object: BINUNICODE then memoized (as every new str in CPython's pickler). */
  private str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.out.push(0x58, ...le(b.byteLength, 4), ...b);
    this.memoize();
  }

  /** A str that is the same object every time (interned): BINGET after its first appearance. */
  private internedStr(s: string): void {
    const known = this.stringMemo.get(s);
    if (known !== undefined) return this.get(known);
    const b = new TextEncoder().encode(s);
    this.out.push(0x58, ...le(b.byteLength, 4), ...b);
    this.stringMemo.set(s, this.memoize());
  }

  private global(module: string, name: string): void {
    const key = `${module}\n${name}`;
    const known = this.globalMemo.get(key);
    if (known !== undefined) return this.get(known);
    this.out.push(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    this.globalMemo.set(key, this.memoize());
  }

  private tuple(items: (() => void)[]): void {
    if (items.length === 0) { this.out.push(0x29); return; }
    if (items.length > 3) this.out.push(0x28);
    items.forEach((f) => f());
    this.out.push(items.length > 3 ? 0x74 : 0x84 + items.length);
    this.memoize();
  }

  /** Dict items in batches of 1000 (SETITEMS), a lone item with SETITEM — CPython's _batch_setitems. */
  private setItems(entries: [string, () => void][]): void {
    // '' is a singleton str in CPython, so a second '' key would be a BINGET; other keys are fresh objects.
    for (let i = 0; i < entries.length; i += 1000) {
      const batch = entries.slice(i, i + 1000);
      if (batch.length > 1) this.out.push(0x28);
      for (const [k, v] of batch) { k === '' ? this.internedStr(k) : this.str(k); v(); }
      this.out.push(batch.length > 1 ? 0x75 : 0x73);
    }
  }

  private dict(m: Map<string, PickleWritable | MetadataEntry>): void {
    this.out.push(0x7d);
    this.memoize();
    this.setItems([...m].map(([k, v]) => [k, () => this.save(v)]));
  }

  /** OrderedDict.__reduce__: (OrderedDict, (), {'_metadata': …} or None, None, iter(items)). */
  private orderedDict(d: OrderedDictValue): void {
    this.global('collections', 'OrderedDict');
    this.out.push(0x29, 0x52);
    this.memoize();
    this.setItems([...d.items].map(([k, v]) => [k, () => this.save(v)]));
    if (!d.metadata) return;
    this.out.push(0x7d); // the instance __dict__
    this.memoize();
    this.setItems([['_metadata', () => {
      this.orderedDict(new OrderedDictValue(new Map(d.metadata!.map(([prefix, version]) =>
        [prefix, new MetadataEntry(version)]))));
    }]]);
    this.out.push(0x62);
  }

  /** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, OrderedDict()). */
  private tensor(t: TorchTensorData): void {
    const numel = t.storage.bytes.byteLength / DTYPE_BYTES[t.storage.dtype];
    if (!Number.isInteger(numel)) throw new Error(`storage of ${t.storage.bytes.byteLength} bytes is not a whole number of ${t.storage.dtype}`);
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.tuple([
      () => {
        this.tuple([
          () => this.internedStr('storage'),
          () => this.global('torch', STORAGE_NAME_OF[t.storage.dtype]),
          () => this.storageKey(t.storage),
          () => this.internedStr('cpu'),
          () => this.int(numel),
        ]);
        this.out.push(0x51); // BINPERSID
      },
      () => this.int(t.storageOffset),
      () => this.tuple(t.shape.map((s) => () => this.int(s))),
      () => this.tuple(t.stride.map((s) => () => this.int(s))),
      () => this.out.push(0x89),
      () => this.orderedDict(new OrderedDictValue(new Map())),
    ]);
    this.out.push(0x52);
    this.memoize();
  }

  /** torch names storages str(len(id_map)) on first sight and reuses that very str object afterwards. */
  private storageKey(s: TorchStorageData): void {
    let key = this.storageKeys.get(s);
    if (key === undefined) {
      key = String(this.storageKeys.size);
      this.storageKeys.set(s, key);
      this.storages.set(key, s);
      this.str(key);
      this.stringMemo.set(`\u0000storage:${key}`, this.memoSize - 1);
      return;
    }
    this.get(this.stringMemo.get(`\u0000storage:${key}`)!);
  }
}


function le(v: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  return out;
}

/** The zip layout of torch's PyTorchStreamWriter (miniz): stored records, 64-byte aligned data. */
class TorchZipWriter {
  private parts: Uint8Array[] = [];
  private offset = 0;
  private central: number[] = [];
  private count = 0;

  constructor(private readonly archiveName: string) {}

  add(name: string, data: Uint8Array): void {
    const full = new TextEncoder().encode(`${this.archiveName}/${name}`);
    if (data.byteLength >= 0xffffffff || this.offset >= 0xffffffff) throw new Error('this writer makes checkpoints under 4 GiB only');
    const start = this.offset + 30 + full.byteLength + 4;
    const pad = (64 - (start % 64)) % 64;
    const crc = crc32(data);
    const local = [...le(0x04034b50, 4), 0, 0, 0x08, 0x08, 0, 0, 0, 0, 0, 0, ...le(0, 4), ...le(0, 4), ...le(0, 4),
      ...le(full.byteLength, 2), ...le(pad + 4, 2), ...full, 0x46, 0x42, ...le(pad, 2), ...new Array<number>(pad).fill(0x5a)];
    const descriptor = [...le(0x08074b50, 4), ...le(crc, 4), ...le(data.byteLength, 4), ...le(data.byteLength, 4)];
    this.central.push(...le(0x02014b50, 4), 0, 0, 0, 0, 0x08, 0x08, 0, 0, 0, 0, 0, 0, ...le(crc, 4),
      ...le(data.byteLength, 4), ...le(data.byteLength, 4), ...le(full.byteLength, 2), 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, ...le(this.offset, 4), ...full);
    this.push(Uint8Array.from(local));
    this.push(data);
    this.push(Uint8Array.from(descriptor));
    this.count++;
  }

  finish(): Uint8Array {
    const cdOffset = this.offset;
    const cdSize = this.central.length;
    this.push(Uint8Array.from(this.central));
    const z64Offset = this.offset;
    this.push(Uint8Array.from([...le(0x06064b50, 4), ...le(44, 8), 0x1e, 0x03, 0x2d, 0x00, ...le(0, 4), ...le(0, 4),
      ...le(this.count, 8), ...le(this.count, 8), ...le(cdSize, 8), ...le(cdOffset, 8)]));
    this.push(Uint8Array.from([...le(0x07064b50, 4), ...le(0, 4), ...le(z64Offset, 8), ...le(1, 4)]));
    this.push(Uint8Array.from([...le(0x06054b50, 4), 0, 0, 0, 0, ...le(Math.min(this.count, 0xffff), 2),
      ...le(Math.min(this.count, 0xffff), 2), ...le(Math.min(cdSize, 0xffffffff), 4), ...le(Math.min(cdOffset, 0xffffffff), 4), 0, 0]));
    const out = new Uint8Array(this.offset);
    let p = 0;
    for (const part of this.parts) { out.set(part, p); p += part.byteLength; }
    return out;
  }

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.offset += b.byteLength;
  }
}
