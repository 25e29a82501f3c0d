import { useStudio } from './store';

const MiB = 1024 * 1024;

/** Which backend the worker runs on, the adapter behind it, and why we fell back if we did. */
export function BackendBadge() {
  const status = useStudio((s) => s.backendStatus);
  const report = useStudio((s) => s.backend);
  if (status === 'starting' && !report) return <span className="badge" data-testid="backend" data-backend="">starting…</span>;
  if (!report) return <span className="badge badge-error" data-testid="backend" data-backend="none">no backend</span>;
  const a = report.adapter;
  return (
    <span className="backend">
      <span className={`badge badge-${report.backend}`} data-testid="backend" data-backend={report.backend}
        data-wasm-threads={report.wasmThreads ?? ''} data-isolated={report.crossOriginIsolated ? 'true' : 'false'}
        title={report.backend === 'wasm' && !report.crossOriginIsolated ? 'one thread: the page is not cross-origin isolated' : undefined}>
        {report.backend === 'webgpu' ? 'WebGPU' : report.backend === 'wasm' ? `WASM × ${report.wasmThreads ?? 1}` : 'CPU'}
      </span>
      <span className="adapter" data-testid="adapter">
        {a
          ? `${a.vendor || 'unknown vendor'} ${a.architecture || ''}${a.isFallbackAdapter ? ' (software)' : ''} · buffer ≤ ${Math.round(a.limits.maxBufferSize / MiB)} MiB · binding ≤ ${Math.round(a.limits.maxStorageBufferBindingSize / MiB)} MiB`
          : 'no WebGPU adapter'}
      </span>
      {report.fallbackReason && (
        <span className="fallback" data-testid="fallback-reason" title={report.fallbackReason}>
          WebGPU unavailable, using {report.backend.toUpperCase()}: {report.fallbackReason}
        </span>
      )}
    </span>
  );
}
