import { describe, expect, it } from 'vitest';
import { PickleGlobal, pickleAttributesOf, unpickle, UnpicklingError, type UnpickleOptions } from './unpickle';

/** Builds pickle bytes from opcode bytes and ASCII strings. */
const p = (...parts: (number | string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((x) => (typeof x === 'number' ? [x] : typeof x === 'string' ? [...x].map((c) => c.charCodeAt(0)) : x)));
const u32 = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const uni = (s: string): (number | string)[] => ['X', ...u32(s.length), s];

const called: string[] = [];
const opts: UnpickleOptions = {
  findGlobal: (m, n) => (m === 'collections' && n === 'OrderedDict'
    ? new PickleGlobal(m, n, (a) => { called.push('OrderedDict'); if (a.length) throw new Error('no args'); return new Map(); })
    : m === 'torch' && n === 'FloatStorage' ? new PickleGlobal(m, n) : undefined),
  persistentLoad: (pid) => ({ pid }),
};
const load = (b: Uint8Array): unknown => unpickle(b, opts);

describe('safe unpickler', () => {
  it('decodes the scalar and container opcodes of protocols 2 and 4', () => {
    // Python: pickle.dumps({'a': [1, -2, 300, 70000, 2**40, 1.5, None, True, False], 'b': (1, 2), 'c': ()}, 2)
    const b = p(0x80, 2, '}q', 0, '(', ...uni('a'), 'q', 1, ']q', 2, '(K', 1, 'J', ...u32(-2 >>> 0), 'M', 44, 1,
      'J', ...u32(70000), 0x8a, 6, 0, 0, 0, 0, 0, 1, 'G', [0x3f, 0xf8, 0, 0, 0, 0, 0, 0], 'N', 0x88, 0x89, 'e',
      ...uni('b'), 'q', 3, 'K', 1, 'K', 2, 0x86, 'q', 4, ...uni('c'), ')', 'u.');
    const v = load(b) as Map<string, unknown>;
    expect(v.get('a')).toEqual([1, -2, 300, 70000, 2 ** 40, 1.5, null, true, false]);
    expect(v.get('b')).toEqual([1, 2]);
    expect(Object.isFrozen(v.get('b'))).toBe(true);
    expect(v.get('c')).toEqual([]);
    // protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, BINGET, huge LONG1 → bigint
    const b4 = p(0x80, 4, 0x95, 20, 0, 0, 0, 0, 0, 0, 0, ']', 0x94, '(', 0x8c, 2, 'hi', 0x94, 'h', 1,
      0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'e.');
    expect(load(b4)).toEqual(['hi', 'hi', 2n ** 64n]);
    expect(load(p(0x80, 2, 0x8a, 1, 0xff, '.'))).toBe(-1);
  });

  it('calls allow-listed globals, passes persistent ids, keeps BUILD state as attributes', () => {
    called.length = 0;
    const b = p(0x80, 2, 'ccollections\nOrderedDict\nq', 0, ')Rq', 1, '(', ...uni('k'), '(', ...uni('storage'),
      'ctorch\nFloatStorage\n', ...uni('0'), 't', 'Q', 'u', '}', ...uni('_metadata'), 'h', 0, ')R', 's', 'b.');
    const v = load(b) as Map<string, unknown>;
    expect(called).toEqual(['OrderedDict', 'OrderedDict']);
    const pid = (v.get('k') as { pid: unknown[] }).pid;
    expect(pid[0]).toBe('storage');
    expect((pid[1] as PickleGlobal).fullName).toBe('torch.FloatStorage');
    expect(pickleAttributesOf(v)!.get('_metadata')).toEqual(new Map());
  });

  const hostile: [string, Uint8Array, RegExp][] = [
    ['GLOBAL os.system', p(0x80, 2, 'cos\nsystem\n', ...uni('echo pwned'), 0x85, 'R.'), /os\.system.*not on the allow-list/],
    ['STACK_GLOBAL builtins.eval', p(0x80, 4, 0x8c, 8, 'builtins', 0x8c, 4, 'eval', 0x93, '.'), /builtins\.eval/],
    ['REDUCE of a non-callable allowed global', p(0x80, 2, 'ctorch\nFloatStorage\n)R.'), /REDUCE.*not allowed/],
    ['REDUCE of a plain value', p(0x80, 2, 'K', 1, ')R.'), /non-callable/],
    ['allowed global with bad arguments', p(0x80, 2, 'ccollections\nOrderedDict\n', 'K', 1, 0x85, 'R.'), /OrderedDict.*no args/],
    ['INST', p(0x80, 2, '(ios\nsystem\n.'), /INST/],
    ['OBJ', p(0x80, 2, '(ccollections\nOrderedDict\no.'), /OBJ/],
    ['NEWOBJ_EX', p(0x80, 4, 0x92, '.'), /NEWOBJ_EX/],
    ['EXT1', p(0x80, 2, 0x82, 1, '.'), /EXT/],
    ['text protocol INT', p('I1\n.'), /unsupported pickle opcode/],
    ['memo read of a missing key', p(0x80, 2, 'h', 5, '.'), /memo key 5/],
    ['LONG_BINGET of a huge key', p(0x80, 2, 'j', 255, 255, 255, 255, '.'), /never stored/],
    ['stack underflow', p(0x80, 2, 's.'), /underflow/],
    ['pop below a mark', p(0x80, 2, ']', '(', 'a.'), /underflow/],
    ['TUPLE without MARK', p(0x80, 2, 't.'), /MARK/],
    ['SETITEM on a list', p(0x80, 2, ']K', 1, 'K', 2, 's.'), /non-dict/],
    ['APPEND on a tuple', p(0x80, 2, ')K', 1, 'a.'), /non-list/],
    ['BUILD on a list', p(0x80, 2, ']}b.'), /BUILD/],
    ['truncated string', p(0x80, 2, 'X', ...u32(1000), 'abc'), /truncated/],
    ['huge LONG4', p(0x80, 2, 0x8b, ...u32(1 << 20), '.'), /too large/],
    ['BINUNICODE8 longer than the data', p(0x80, 4, 0x8d, 255, 255, 255, 255, 255, 255, 255, 255, '.'), /exceeds/],
    ['no STOP', p(0x80, 2, 'N'), /without STOP/],
    ['two values at STOP', p(0x80, 2, 'NN.'), /STOP with 2/],
    ['unterminated GLOBAL', p(0x80, 2, 'c', 'x'.repeat(300)), /unterminated/],
    ['invalid UTF-8', p(0x80, 2, 'X', ...u32(2), 0xc3, 0x28, '.'), /UTF-8/],
    ['protocol 9', p(0x80, 9, 'N.'), /protocol 9/],
    ['persistent id without a loader', p(0x80, 2, 'NQ.'), /persistent/],
  ];
  for (const [name, bytes, message] of hostile) {
    it(`rejects ${name}`, () => {
      const o = name.includes('without a loader') ? { findGlobal: opts.findGlobal } : opts;
      expect(() => unpickle(bytes, o)).toThrow(UnpicklingError);
      expect(() => unpickle(bytes, o)).toThrow(message);
    });
  }

  it('handles deep nesting and memo self-references without recursion', () => {
    const depth = 200_000;
    const nested = new Uint8Array(2 + depth + depth - 1 + 1);
    nested.set([0x80, 2]);
    nested.fill(0x5d, 2, 2 + depth); // EMPTY_LIST × depth
    nested.fill(0x61, 2 + depth, 2 + 2 * depth - 1); // APPEND × (depth − 1)
    nested[nested.length - 1] = 0x2e;
    let v = load(nested) as unknown[];
    let d = 1;
    while (v.length) { v = v[0] as unknown[]; d++; }
    expect(d).toBe(depth);
    // a list containing itself (memo abuse): fine to build, it is just a cycle
    const cyc = load(p(0x80, 2, ']q', 0, 'h', 0, 'a.')) as unknown[];
    expect(cyc[0]).toBe(cyc);
    // many marks never closed
    const marks = new Uint8Array(100_004).fill(0x28);
    marks.set([0x80, 2]);
    marks.set([0x4e, 0x2e], 100_002);
    expect(() => load(marks)).toThrow(/STOP/);
  });
});
