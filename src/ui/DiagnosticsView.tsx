import { useStudio } from './store';

const SIZES = [64, 256, 512, 1024, 2048];

/** Runs a real tfjs job in the worker (a timed, checksummed matmul) and shows its streamed progress. */
export function DiagnosticsView() {
  const m = useStudio((s) => s.matmul);
  const ready = useStudio((s) => s.backendStatus === 'ready');
  const { runMatmul, cancelMatmul, setMatmulSize, setMatmulRepeats, injectFault } = useStudio.getState();
  const logs = useStudio((s) => s.logs);
  const ok = m.result && Math.abs(m.result.checksum - m.result.expectedChecksum) <= 1e-4 * Math.max(1, Math.abs(m.result.expectedChecksum));
  return (
    <section className="panel" aria-labelledby="diag-title">
      <h2 id="diag-title">Diagnostics</h2>
      <p className="muted">Times an n×n float32 matrix product on the worker's backend and checks its result.</p>
      <div className="row">
        <label>
          Matrix size
          <select value={m.size} onChange={(e) => setMatmulSize(Number(e.target.value))} disabled={m.running} data-testid="matmul-size">
            {SIZES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label>
          Repeats
          <input type="number" min={1} max={1000} value={m.repeats} disabled={m.running} data-testid="matmul-repeats"
            onChange={(e) => setMatmulRepeats(Number(e.target.value))} style={{ width: '5em' }} />
        </label>
        <button type="button" onClick={() => void runMatmul()} disabled={!ready || m.running} data-testid="matmul-run">Run matmul</button>
        <button type="button" onClick={cancelMatmul} disabled={!m.running}>Cancel</button>
      </div>
      {m.progress && (
        <progress max={m.progress.total} value={m.progress.done} data-testid="matmul-progress" aria-label="matmul progress" />
      )}
      {m.result && (
        <p data-testid="matmul-result" data-size={m.result.size} data-ok={ok ? 'true' : 'false'} data-backend={m.result.backend} data-wasm-threads={m.result.wasmThreads ?? ''}>
          {m.result.size}² on {m.result.backend}: {m.result.medianMs.toFixed(2)} ms median, {m.result.gflops.toFixed(2)} GFLOP/s,
          checksum {m.result.checksum} ({ok ? 'correct' : `expected ${m.result.expectedChecksum}`})
        </p>
      )}
      <KernelCheckSection ready={ready} />
      <details>
        <summary>Fault injection</summary>
        <p className="muted">Check that errors surface and the worker recovers.</p>
        <button type="button" onClick={() => void injectFault('throw')} data-testid="fault-throw">Fail a job</button>
        <button type="button" onClick={() => void injectFault('crash')} data-testid="fault-crash">Crash the worker</button>
        <button type="button" onClick={() => void injectFault('lose-device')} data-testid="fault-lose-device"
          title="Destroys the worker's WebGPU device, as a driver reset or an out-of-memory loss would">Lose the GPU device</button>
      </details>
      <details>
        <summary>Worker log ({logs.length})</summary>
        <pre className="log" data-testid="log">{logs.map((l) => `${new Date(l.time).toISOString().slice(11, 19)} ${l.level} ${l.message}`).join('\n')}</pre>
      </details>
    </section>
  );
}

/** Every custom kernel against its reference op on the worker's backend. */
function KernelCheckSection({ ready }: { ready: boolean }) {
  const k = useStudio((s) => s.kernelCheck);
  const worst = k.result ? Math.max(...k.result.checks.map((c) => c.maxRel)) : 0;
  const failed = k.result ? k.result.checks.filter((c) => !(c.maxRel <= k.result!.tolerance)) : [];
  return (
    <div>
      <h3>Kernel check</h3>
      <p className="muted">Packed int8 / fp16 Linear and Conv2d kernels (forward and input gradient) and, on WebGPU, the fused attention (forward and backward), against tfjs&apos;s float32 ops.</p>
      <button type="button" onClick={() => void useStudio.getState().runKernelCheck()} disabled={!ready || k.running} data-testid="kernel-check-run">
        {k.running ? 'Checking…' : 'Check kernels'}
      </button>
      {k.result && (
        <p data-testid="kernel-check-result" data-ok={failed.length === 0 ? 'true' : 'false'} data-count={k.result.checks.length} data-backend={k.result.backend}>
          {k.result.checks.length} checks on {k.result.backend}: worst relative error {worst.toExponential(2)} (bound {k.result.tolerance})
          {failed.length > 0 && <> — failed: {failed.map((c) => `${c.name} (${c.maxRel.toExponential(2)})`).join(', ')}</>}
        </p>
      )}
    </div>
  );
}
