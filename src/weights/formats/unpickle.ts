/**
 * A safe subset of Python's unpickler (protocols 2–5 binary opcodes) for checkpoint metadata. It executes nothing:
 * GLOBAL / STACK_GLOBAL resolve names through a caller-supplied allow-list, REDUCE / NEWOBJ may only call what that
 * allow-list returned, persistent ids go to the caller's persistentLoad, and opcodes that build arbitrary objects
 * (INST, OBJ, NEWOBJ_EX, EXT*) or text-protocol opcodes are errors. The machine is a loop over the bytes with an
 * explicit stack (no recursion), so hostile nesting cannot overflow the JS stack, and every read is bounds-checked.
 *
 * Python values map to: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number,
 * str → string, bytes → Uint8Array, list → array, tuple → frozen array, dict → Map, set/frozenset → Set.
 */

export class UnpicklingError extends Error {
  override name = 'UnpicklingError';
}

/** An allow-listed Python global. `call` implements REDUCE/NEWOBJ; `build` implements BUILD on its results. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly qualname: string,
    readonly call?: (args: readonly unknown[]) => unknown,
  ) {}

  get fullName(): string {
    return `${this.module}.${this.qualname}`;
  }
}

export interface UnpickleOptions {
  /** Resolves module.name to an allowed global, or returns undefined to reject it. */
  findGlobal(module: string, name: string): PickleGlobal | undefined;
  /** Resolves a persistent id (BINPERSID); absent → persistent ids are an error. */
  persistentLoad?(pid: unknown): unknown;
}

/** Instance attributes set by BUILD on a dict (e.g. a state dict's `_metadata`). */
const attributes = new WeakMap<object, Map<unknown, unknown>>();
export const pickleAttributesOf = (obj: object): Map<unknown, unknown> | undefined => attributes.get(obj);

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  return new Unpickler(bytes, options).run();
}

class Unpickler {
  private p = 0;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private memo = new Map<number, unknown>();
  private readonly view: DataView;

  constructor(private readonly b: Uint8Array, private readonly opts: UnpickleOptions) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  run(): unknown {
    for (;;) {
      if (this.p >= this.b.byteLength) throw new UnpicklingError('pickle data ended without STOP: truncated');
      const at = this.p;
      const op = this.b[this.p++]!;
      if (op === 0x2e /* . STOP */) {
        if (this.stack.length !== 1 || this.marks.length) throw new UnpicklingError(`STOP with ${this.stack.length} values on the stack`);
        return this.pop();
      }
      this.step(op, at);
    }
  }

  private step(op: number, at: number): void {
    switch (op) {
      case 0x80: { // PROTO
        const v = this.u8();
        if (v > 5) throw new UnpicklingError(`unsupported pickle protocol ${v}`);
        return;
      }
      case 0x95: this.take(8); return; // FRAME: framing is only a buffering hint
      case 0x28: this.marks.push(this.stack.length); return; // ( MARK
      case 0x30: this.pop(); return; // 0 POP
      case 0x31: this.popMark(); return; // 1 POP_MARK
      case 0x32: this.push(this.top()); return; // 2 DUP
      case 0x4e: this.push(null); return; // N NONE
      case 0x88: this.push(true); return; // NEWTRUE
      case 0x89: this.push(false); return; // NEWFALSE
      case 0x4a: this.push(this.view.getInt32(this.take(4), true)); return; // J BININT
      case 0x4b: this.push(this.u8()); return; // K BININT1
      case 0x4d: this.push(this.view.getUint16(this.take(2), true)); return; // M BININT2
      case 0x8a: this.push(this.long(this.u8())); return; // LONG1
      case 0x8b: { // LONG4: longer integers never occur in checkpoints, and huge ones would take quadratic time
        const n = this.len32();
        if (n > 64) throw new UnpicklingError(`LONG4 integer of ${n} bytes at byte ${at} is too large`);
        this.push(this.long(n));
        return;
      }
      case 0x47: this.push(this.view.getFloat64(this.take(8), false)); return; // G BINFLOAT (big-endian)
      case 0x58: this.push(this.utf8(this.len32())); return; // X BINUNICODE
      case 0x8c: this.push(this.utf8(this.u8())); return; // SHORT_BINUNICODE
      case 0x8d: this.push(this.utf8(this.len64())); return; // BINUNICODE8
      case 0x54: this.push(this.latin1(this.len32())); return; // T BINSTRING (py2 str)
      case 0x55: this.push(this.latin1(this.u8())); return; // U SHORT_BINSTRING
      case 0x42: this.push(this.bytes(this.len32())); return; // B BINBYTES
      case 0x43: this.push(this.bytes(this.u8())); return; // C SHORT_BINBYTES
      case 0x8e: this.push(this.bytes(this.len64())); return; // BINBYTES8
      case 0x29: this.push(Object.freeze([])); return; // ) EMPTY_TUPLE
      case 0x74: this.push(Object.freeze(this.popMark())); return; // t TUPLE
      case 0x85: this.push(Object.freeze(this.popN(1))); return; // TUPLE1
      case 0x86: this.push(Object.freeze(this.popN(2))); return; // TUPLE2
      case 0x87: this.push(Object.freeze(this.popN(3))); return; // TUPLE3
      case 0x5d: this.push([]); return; // ] EMPTY_LIST
      case 0x6c: this.push(this.popMark()); return; // l LIST
      case 0x61: { const v = this.pop(); this.list(this.top()).push(v); return; } // a APPEND
      case 0x65: { const vs = this.popMark(); const l = this.list(this.top()); for (const v of vs) l.push(v); return; } // e APPENDS
      case 0x7d: this.push(new Map()); return; // } EMPTY_DICT
      case 0x64: this.push(this.pairsToMap(new Map(), this.popMark())); return; // d DICT
      case 0x73: { const v = this.pop(); const k = this.pop(); this.dict(this.top()).set(k, v); return; } // s SETITEM
      case 0x75: { const kv = this.popMark(); this.pairsToMap(this.dict(this.top()), kv); return; } // u SETITEMS
      case 0x8f: this.push(new Set()); return; // EMPTY_SET
      case 0x90: { const vs = this.popMark(); const s = this.top(); if (!(s instanceof Set) || Object.isFrozen(s)) throw new UnpicklingError('ADDITEMS target is not a set'); vs.forEach((v) => s.add(v)); return; }
      case 0x91: this.push(Object.freeze(new Set(this.popMark()))); return; // FROZENSET
      case 0x71: this.memo.set(this.u8(), this.top()); return; // q BINPUT
      case 0x72: this.memo.set(this.view.getUint32(this.take(4), true), this.top()); return; // r LONG_BINPUT
      case 0x94: this.memo.set(this.memo.size, this.top()); return; // MEMOIZE
      case 0x68: this.push(this.memoGet(this.u8())); return; // h BINGET
      case 0x6a: this.push(this.memoGet(this.view.getUint32(this.take(4), true))); return; // j LONG_BINGET
      case 0x63: { // c GLOBAL
        const module = this.line(), name = this.line();
        this.push(this.resolve(module, name));
        return;
      }
      case 0x93: { // STACK_GLOBAL
        const name = this.pop(), module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new UnpicklingError('STACK_GLOBAL needs two strings');
        this.push(this.resolve(module, name));
        return;
      }
      case 0x52: { const args = this.pop(); const fn = this.pop(); this.push(this.callGlobal(fn, args, 'REDUCE')); return; } // R REDUCE
      case 0x81: { const args = this.pop(); const cls = this.pop(); this.push(this.callGlobal(cls, args, 'NEWOBJ')); return; } // NEWOBJ
      case 0x62: { const state = this.pop(); this.build(this.top(), state); return; } // b BUILD
      case 0x51: { // Q BINPERSID
        const pid = this.pop();
        if (!this.opts.persistentLoad) throw new UnpicklingError('pickle uses persistent ids, which this reader does not accept');
        this.push(this.opts.persistentLoad(pid));
        return;
      }
      case 0x69: throw new UnpicklingError(`INST opcode at byte ${at}: pickles that instantiate arbitrary classes are not accepted`);
      case 0x6f: throw new UnpicklingError(`OBJ opcode at byte ${at}: pickles that instantiate arbitrary classes are not accepted`);
      case 0x92: throw new UnpicklingError(`NEWOBJ_EX opcode at byte ${at} is not accepted`);
      case 0x82: case 0x83: case 0x84: throw new UnpicklingError(`EXT opcode at byte ${at} (extension registry) is not accepted`);
      default:
        throw new UnpicklingError(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}') at byte ${at}`);
    }
  }

  // --- stack ---
  private push(v: unknown): void {
    this.stack.push(v);
  }

  private pop(): unknown {
    const floor = this.marks.length ? this.marks[this.marks.length - 1]! : 0;
    if (this.stack.length <= floor) throw new UnpicklingError(`pickle stack underflow at byte ${this.p - 1}`);
    return this.stack.pop();
  }

  private top(): unknown {
    const floor = this.marks.length ? this.marks[this.marks.length - 1]! : 0;
    if (this.stack.length <= floor) throw new UnpicklingError(`pickle stack underflow at byte ${this.p - 1}`);
    return this.stack[this.stack.length - 1];
  }

  private popN(n: number): unknown[] {
    const out = new Array<unknown>(n);
    for (let i = n - 1; i >= 0; i--) out[i] = this.pop();
    return out;
  }

  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) throw new UnpicklingError(`opcode at byte ${this.p - 1} needs a MARK and there is none`);
    return this.stack.splice(m);
  }

  private list(v: unknown): unknown[] {
    if (!Array.isArray(v) || Object.isFrozen(v)) throw new UnpicklingError(`APPEND(S) at byte ${this.p - 1} targets a non-list`);
    return v;
  }

  private dict(v: unknown): Map<unknown, unknown> {
    if (!(v instanceof Map)) throw new UnpicklingError(`SETITEM(S) at byte ${this.p - 1} targets a non-dict`);
    return v;
  }

  private pairsToMap(m: Map<unknown, unknown>, kv: unknown[]): Map<unknown, unknown> {
    if (kv.length % 2) throw new UnpicklingError(`odd number of items (${kv.length}) for a dict at byte ${this.p - 1}`);
    for (let i = 0; i < kv.length; i += 2) m.set(kv[i], kv[i + 1]);
    return m;
  }

  private memoGet(i: number): unknown {
    if (!this.memo.has(i)) throw new UnpicklingError(`memo key ${i} read at byte ${this.p - 1} was never stored`);
    return this.memo.get(i);
  }

  // --- globals ---
  private resolve(module: string, name: string): PickleGlobal {
    const g = this.opts.findGlobal(module, name);
    if (!g) throw new UnpicklingError(`pickle refers to global ${module}.${name}, which is not on the allow-list (nothing is executed)`);
    return g;
  }

  private callGlobal(fn: unknown, args: unknown, opcode: string): unknown {
    if (!(fn instanceof PickleGlobal) || !fn.call) {
      throw new UnpicklingError(`${opcode} at byte ${this.p - 1} calls ${fn instanceof PickleGlobal ? fn.fullName : 'a non-callable value'}, which is not allowed`);
    }
    if (!Array.isArray(args)) throw new UnpicklingError(`${opcode} of ${fn.fullName}: arguments are not a tuple`);
    try {
      return fn.call(args);
    } catch (e) {
      throw new UnpicklingError(`${fn.fullName}(…) at byte ${this.p - 1}: ${(e as Error).message}`);
    }
  }

  private build(obj: unknown, state: unknown): void {
    // The only BUILD a state dict needs: an OrderedDict's instance attributes (its `_metadata`).
    if (obj instanceof Map && (state instanceof Map || state === null)) {
      if (state) attributes.set(obj, state);
      return;
    }
    throw new UnpicklingError(`BUILD at byte ${this.p - 1} on a ${describe(obj)} is not supported`);
  }

  // --- reading ---
  private take(n: number): number {
    if (n < 0 || this.p + n > this.b.byteLength) throw new UnpicklingError(`pickle data truncated at byte ${this.p} (needs ${n} more bytes)`);
    const at = this.p;
    this.p += n;
    return at;
  }

  private u8(): number {
    return this.b[this.take(1)]!;
  }

  private len32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  private len64(): number {
    const v = this.view.getBigUint64(this.take(8), true);
    if (v > BigInt(this.b.byteLength)) throw new UnpicklingError(`length ${v} at byte ${this.p - 8} exceeds the pickle size`);
    return Number(v);
  }

  private bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.b.slice(at, at + n);
  }

  private utf8(n: number): string {
    const at = this.take(n);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.b.subarray(at, at + n));
    } catch {
      throw new UnpicklingError(`invalid UTF-8 string at byte ${at}`);
    }
  }

  private latin1(n: number): string {
    const at = this.take(n);
    let s = '';
    for (let i = at; i < at + n; i++) s += String.fromCharCode(this.b[i]!);
    return s;
  }

  /** A newline-terminated ASCII line (GLOBAL's module and name), at most 256 bytes. */
  private line(): string {
    const start = this.p;
    const limit = Math.min(this.b.byteLength, start + 256);
    for (let i = start; i < limit; i++) {
      if (this.b[i] === 0x0a) {
        this.p = i + 1;
        return this.latin1At(start, i);
      }
    }
    throw new UnpicklingError(`unterminated GLOBAL name at byte ${start}`);
  }

  private latin1At(from: number, to: number): string {
    let s = '';
    for (let i = from; i < to; i++) s += String.fromCharCode(this.b[i]!);
    return s;
  }

  /** Little-endian two's-complement integer of n bytes. */
  private long(n: number): number | bigint {
    const at = this.take(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.b[at + i]!);
    if (this.b[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'tuple' : 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof PickleGlobal) return v.fullName;
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}
