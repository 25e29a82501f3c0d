/** The pthread worker of tfjs-wasm's threaded build, shipped as a string (tfjs makes a blob: URL of it). */
declare module '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js' {
  export const wasmWorkerContents: string;
}
