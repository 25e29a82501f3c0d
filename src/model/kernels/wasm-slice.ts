import * as tf from '@tensorflow/tfjs';

/**
 * Slice and SplitV for tfjs-wasm that read their input in place. tfjs-wasm's own Slice (which its SplitV calls)
 * starts with `backend.readSync(x)`, a copy of the WHOLE input out of the wasm heap, before copying the slice:
 * taking the heads of a [B·heads, L, d] tensor one by one, or the taps of a conv gradient, costs one full copy per
 * piece. These kernels copy only the slice, from a view of the heap. Same values (a copy); strings go to the
 * original kernels. Registered over tfjs-wasm's own (registerWasmSliceKernels), after that package is imported.
 */

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Heap;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

type Heap = Float32Array | Int32Array | Uint8Array;

/** Copies the block of `size` at `begin` of a row-major `shape` array from `src` into `dst` (contiguous). */
export function copyBlock(src: Heap, shape: number[], begin: number[], size: number[], dst: Heap): void {
  const rank = shape.length;
  if (rank === 0) {
    dst[0] = src[0]!;
    return;
  }
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  // the innermost axes taken whole join the contiguous run of the first axis above them that is cut
  let a = rank - 1;
  while (a > 0 && size[a] === shape[a]) a--;
  const run = size[a]! * strides[a]!;
  const outer = size.slice(0, a);
  const count = outer.reduce((p, s) => p * s, 1);
  if (run === 0 || count === 0) return;
  const index = new Array<number>(a).fill(0);
  for (let n = 0, out = 0; n < count; n++, out += run) {
    let from = begin[a]! * strides[a]!;
    for (let i = 0; i < a; i++) from += (begin[i]! + index[i]!) * strides[i]!;
    if (run >= 32) dst.set(src.subarray(from, from + run), out);
    else for (let j = 0; j < run; j++) dst[out + j] = src[from + j]!;
    for (let i = a - 1; i >= 0; i--) {
      index[i] = index[i]! + 1;
      if (index[i]! < outer[i]!) break;
      index[i] = 0;
    }
  }
}

function sliceInPlace(x: tf.TensorInfo, begin: number[], size: number[], backend: WasmBackendLike): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  // views taken after the output's allocation, which may grow the heap (and so replace its buffer)
  copyBlock(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
  return out;
}

let registered = false;

/** Puts the in-place Slice and SplitV over tfjs-wasm's (idempotent; call after @tensorflow/tfjs-backend-wasm loaded). */
export function registerWasmSliceKernels(): void {
  if (registered) return;
  const slice = tf.getKernel('Slice', 'wasm');
  const splitV = tf.getKernel('SplitV', 'wasm');
  if (!slice || !splitV) return; // tfjs-wasm not loaded: nothing to replace
  registered = true;
  const sliceKernel = (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs.x!;
    if (x.dtype === 'string') return slice.kernelFunc(args as never) as tf.TensorInfo;
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs!.begin as number[], args.attrs!.size as number[]);
    return sliceInPlace(x, begin, size, args.backend as WasmBackendLike);
  };
  const splitVKernel = (args: KernelArgs): tf.TensorInfo[] => {
    const x = args.inputs.x!;
    if (x.dtype === 'string') return splitV.kernelFunc(args as never) as tf.TensorInfo[];
    const axis = tf.util.parseAxisParam(args.attrs!.axis as number, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, args.attrs!.numOrSizeSplits as number[] | number, axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const piece = sliceInPlace(x, [...begin], size, args.backend as WasmBackendLike);
      begin[axis] = begin[axis]! + s;
      return piece;
    });
  };
  for (const [kernelName, kernelFunc] of [['Slice', sliceKernel], ['SplitV', splitVKernel]] as const) {
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}
