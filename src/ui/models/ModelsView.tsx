import { useEffect, useId, useState } from 'react';
import { fetchableUrlProblem } from '../../pwa/csp';
import { useStudio } from '../store';
import type { ModelEntry } from '../../worker/models-protocol';
import type { ModelComponent, PrecisionPolicy, WeightPrecision } from '../../worker/studio-protocol';
import { formatBytes } from '../../lib/format-bytes';
import type { InstallProgressView } from './models-slice';
import './models.css';

const SETS: { id: string; title: string; note: string }[] = [
  {
    id: 'demo',
    title: 'Built-in demo set',
    note: 'Served by this app (about 10 MB). Small models trained on simple scenes — one coloured shape on a plain background, 32×32 — so they draw what the prompt says, if not always right: tuning shows what IPGO does. The demo aesthetic head prefers big shapes; the HPSv2 tower is the random tiny one.',
  },
  {
    id: 'tiny',
    title: 'Built-in tiny models',
    note: 'Served by this app. Their weights are random: they are test fixtures (the images are noise-like patterns), not for real pictures. Install the demo set above or Stable Diffusion 1.5 below.',
  },
  {
    id: 'sd15',
    title: 'Stable Diffusion 1.5 and reward models',
    note: 'For real images. Downloaded once from Hugging Face into this browser (several GB), then usable offline.',
  },
];

/** The Models view: what the app knows, what is installed, downloads with progress, imports, storage. */
export function ModelsView() {
  const models = useStudio((s) => s.models);
  const status = useStudio((s) => s.modelsStatus);
  const { refreshModels } = useStudio.getState();
  useEffect(() => {
    void refreshModels();
  }, [refreshModels]);
  const grouped = SETS.map((set) => ({ ...set, models: models.filter((m) => m.set === set.id) }));
  const others = models.filter((m) => !SETS.some((s) => s.id === m.set));
  return (
    <section className="panel models" aria-labelledby="models-title" data-testid="models-view" data-status={status}>
      <h2 id="models-title">Models</h2>
      <StorageSummary />
      <PrecisionPanel />
      {status === 'loading' && <p className="muted">Reading installed models…</p>}
      {grouped.map((g) => g.models.length > 0 && <ModelSet key={g.id} id={g.id} title={g.title} note={g.note} models={g.models} />)}
      {others.length > 0 && <ModelSet id="other" title="Other models" note="" models={others} />}
      {models.length > 0 && <ImportPanel models={models} />}
    </section>
  );
}

function StorageSummary() {
  const storage = useStudio((s) => s.storage);
  if (!storage) return null;
  const { usageBytes: used, quotaBytes: quota, availableBytes: avail, persisted } = storage;
  return (
    <div className="storage" data-testid="storage" data-usage={used ?? ''} data-available={avail ?? ''} data-quota={quota ?? ''}>
      <span className="field-label">Browser storage</span>
      {quota !== null && used !== null && <meter min={0} max={quota} value={used} aria-label="Storage used" />}
      <span data-testid="storage-text">
        {used !== null ? formatBytes(used) : '?'} used · {avail !== null ? formatBytes(avail) : '?'} available
        {quota !== null ? ` (quota ${formatBytes(quota)}, as the browser reports it)` : ''}
      </span>
      <span className="muted">{persisted === null ? '' : persisted ? 'persistent: not evicted under storage pressure' : 'not persistent yet: the browser may evict it under storage pressure'}</span>
    </div>
  );
}

function ModelSet({ id, title, note, models }: { id: string; title: string; note: string; models: ModelEntry[] }) {
  const installs = useStudio((s) => s.installs);
  const { installSet } = useStudio.getState();
  const missing = models.filter((m) => m.state !== 'installed');
  const need = missing.reduce((a, m) => a + m.downloadBytes - m.committedBytes, 0);
  const busy = models.some((m) => installs[m.id]);
  const headingId = useId();
  return (
    <section className="model-set" aria-labelledby={headingId} data-testid={`set-${id}`}>
      <div className="set-head">
        <h3 id={headingId}>{title}</h3>
        {id !== 'other' && missing.length > 0 && (
          <button type="button" disabled={busy} onClick={() => void installSet(id)} data-testid={`set-install-${id}`}>
            Install all {missing.length} ({formatBytes(Math.max(0, need))}{models.every((m) => m.sizesExact) ? '' : ', about'})
          </button>
        )}
      </div>
      {note && <p className="set-note">{note}</p>}
      <ul className="model-list">
        {models.map((m) => <ModelCard key={m.id} model={m} />)}
      </ul>
    </section>
  );
}

const KIND_LABEL: Record<string, string> = {
  'sd15-pipeline': 'SD pipeline', clip: 'CLIP (CLIP score)', 'aesthetic-head': 'aesthetic head', openclip: 'OpenCLIP (HPSv2)',
};

function ModelCard({ model: m }: { model: ModelEntry }) {
  const install = useStudio((s) => s.installs[m.id]);
  const error = useStudio((s) => s.modelErrors[m.id]);
  const notice = useStudio((s) => s.modelNotices[m.id]);
  const verification = useStudio((s) => s.verifications[m.id]);
  const available = useStudio((s) => s.storage?.availableBytes ?? null);
  const { installModel, pauseInstall, resumeInstall, cancelInstall, verifyModel, deleteModel } = useStudio.getState();
  const short = available !== null && m.needBytes > available;
  const state = install ? (install.state === 'paused' ? 'paused' : 'installing') : m.state;
  // a Hugging Face model installs the manifest's revision, or a branch / tag / commit typed here
  const [revision, setRevision] = useState('');
  const fromHub = m.source.startsWith('hf:');
  return (
    <li className="model" data-testid={`model-${m.id}`} data-state={state} aria-label={m.name}>
      <div className="model-main">
        <div className="model-title">
          <strong>{m.name}</strong> <StateBadge state={state} />
        </div>
        <div className="model-facts muted">
          <span>{KIND_LABEL[m.kind] ?? m.kind}</span>
          <span>{m.precisions.join(' / ') || 'text'}</span>
          <span data-testid={`size-${m.id}`}>{m.sizesExact ? '' : '≈ '}{formatBytes(m.downloadBytes)} download · {formatBytes(m.storedBytes)} stored</span>
          <span>{m.files} files</span>
          <span className="source" title={m.source}>{m.builtin ? 'built in' : m.source}</span>
          {m.hubCommit && <span data-testid={`commit-${m.id}`} title={m.hubCommit}>commit {m.hubCommit.slice(0, 10)}</span>}
        </div>
        {m.deviceBytes && <DeviceBytes model={m} />}
        {m.state === 'partial' && !install && (
          <div className="muted" data-testid={`partial-${m.id}`}>
            Partly installed: {m.filesDone} of {m.files} files, {formatBytes(m.committedBytes)} of {formatBytes(m.downloadBytes)} kept. Resume continues from there.
          </div>
        )}
        {m.state !== 'installed' && !install && (
          <div className={short ? 'quota-short' : 'muted'} data-testid={`need-${m.id}`}>
            Needs {formatBytes(m.needBytes)} of storage · {available !== null ? `${formatBytes(available)} available` : 'available space unknown'}
            {short ? ' — not enough space' : ''}
          </div>
        )}
        {install && <InstallProgress id={m.id} p={install} />}
        {notice && !install && <div className="notice" data-testid={`notice-${m.id}`} role="status">{notice}</div>}
        {error && (
          <div className="error-inline" role="alert" data-testid={`error-${m.id}`} data-code={error.code}>
            <strong>{ERROR_TITLE[error.code] ?? 'Failed'}:</strong> {error.message.replace(/^not enough storage: /, '')}
            <div className="error-hint">{error.hint}</div>
          </div>
        )}
        {verification && <VerifyResult id={m.id} v={verification} />}
      </div>
      <div className="model-actions" role="group" aria-label={`Actions for ${m.name}`}>
        {!install && m.state !== 'installed' && fromHub && m.state === 'missing' && (
          <input className="revision" value={revision} onChange={(e) => setRevision(e.target.value.trim())} placeholder={m.source.split('@')[1] ?? 'main'}
            aria-label={`Revision of ${m.name} (branch, tag or commit)`} title="Branch, tag or commit to install" data-testid={`revision-${m.id}`} />
        )}
        {!install && m.state !== 'installed' && (
          <button type="button" className="primary" onClick={() => void installModel(m.id, revision ? { revision } : undefined)} data-testid={`install-${m.id}`}>
            {m.state === 'partial' ? 'Resume' : 'Install'}
          </button>
        )}
        {install?.state === 'running' && <button type="button" onClick={() => pauseInstall(m.id)} data-testid={`pause-${m.id}`}>Pause</button>}
        {install?.state === 'paused' && <button type="button" className="primary" onClick={() => resumeInstall(m.id)} data-testid={`resume-${m.id}`}>Resume</button>}
        {install && <button type="button" onClick={() => cancelInstall(m.id)} data-testid={`cancel-${m.id}`}>Cancel</button>}
        {!install && m.state === 'installed' && (
          <button type="button" disabled={verification === 'running'} onClick={() => void verifyModel(m.id)} data-testid={`verify-${m.id}`}>Verify</button>
        )}
        {!install && m.state !== 'missing' && (
          <button type="button" className="danger" onClick={() => void deleteModel(m.id)} data-testid={`delete-${m.id}`}>Delete</button>
        )}
      </div>
    </li>
  );
}

const ERROR_TITLE: Record<string, string> = {
  quota: 'Not enough storage', network: 'Download failed', 'invalid-input': 'Wrong or damaged file', internal: 'Failed',
};

function StateBadge({ state }: { state: string }) {
  const label: Record<string, string> = { installed: 'installed', partial: 'partly installed', missing: 'not installed', installing: 'installing', paused: 'paused' };
  return <span className={`state state-${state}`}>{label[state] ?? state}</span>;
}

function seconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '—';
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function InstallProgress({ id, p }: { id: string; p: InstallProgressView }) {
  const total = Math.max(p.totalSize, 1);
  return (
    <div className="install-progress" data-testid={`install-${id}-progress`}>
      <progress max={total} value={Math.min(p.totalBytes, total)} aria-label="Install progress" data-testid={`progress-${id}`}
        data-total-bytes={p.totalBytes} data-file={p.path ?? ''} data-file-bytes={p.fileBytes} data-resumed-from={p.resumedFrom} />
      <div className="progress-text" data-testid={`progress-text-${id}`}>
        {p.state === 'paused' ? 'Paused · ' : ''}
        {formatBytes(p.totalBytes)} of {formatBytes(p.totalSize)} · {formatBytes(p.bytesPerSecond)}/s · ETA {seconds(p.etaSeconds)}
      </div>
      {p.path && (
        <div className="muted">
          {p.path}: {formatBytes(p.fileBytes)}{p.fileSize !== undefined ? ` of ${formatBytes(p.fileSize)}` : ''} · ETA {seconds(p.fileEtaSeconds)}
        </div>
      )}
      {p.needBytes !== undefined && (
        <div className="muted">Needs {formatBytes(p.needBytes)} · {p.availableBytes !== undefined ? `${formatBytes(p.availableBytes)} available` : 'available space unknown'}</div>
      )}
      {p.notice && <div className="muted" data-testid={`progress-notice-${id}`}>{p.notice}</div>}
    </div>
  );
}

function VerifyResult({ id, v }: { id: string; v: import('../../worker/models-protocol').ModelVerification | 'running' }) {
  if (v === 'running') return <div className="muted" data-testid={`verify-result-${id}`} data-ok="">Verifying…</div>;
  const bad = v.files.filter((f) => !f.ok);
  return (
    <div className={v.ok ? 'notice' : 'error-inline'} data-testid={`verify-result-${id}`} data-ok={String(v.ok)} role="status">
      {v.ok
        ? `Verified: all ${v.files.length} files match their recorded checksums (${formatBytes(v.files.reduce((a, f) => a + f.checkedBytes, 0))} re-read).`
        : `${bad.length} of ${v.files.length} files damaged — delete and install again:`}
      {!v.ok && <ul>{bad.map((f) => <li key={f.path}><code>{f.path}</code>: {f.problem}</li>)}</ul>}
    </div>
  );
}

function ImportPanel({ models }: { models: ModelEntry[] }) {
  const [target, setTarget] = useState(models[0]?.id ?? '');
  const [url, setUrl] = useState('');
  const [urlError, setUrlError] = useState('');
  const busy = useStudio((s) => Boolean(s.installs[target]));
  const { importModelFiles, installModel, installBundle } = useStudio.getState();
  const installFromUrl = () => {
    const u = url.trim();
    const problem = fetchableUrlProblem(u);
    if (problem) return setUrlError(problem);
    setUrlError('');
    void installModel(target, { baseUrl: u });
  };
  return (
    <section className="model-set import" aria-labelledby="import-title">
      <h3 id="import-title">Import without the default source</h3>
      <p className="set-note">From a folder on this computer (a diffusers / Hugging Face folder with the files listed in the manifest), or from a bundle URL: a mirror or self-hosted folder whose files follow the manifest paths. The same sha256 / size checks apply.</p>
      <div className="import-grid">
        <label className="field">
          <span className="field-label">Model</span>
          <select value={target} onChange={(e) => setTarget(e.target.value)} data-testid="import-model">
            {models.map((m) => <option key={m.id} value={m.id}>{m.name}</option>)}
          </select>
        </label>
        <label className="field">
          <span className="field-label">From a folder</span>
          <input type="file" multiple disabled={busy} data-testid="import-folder"
            ref={(el) => { el?.setAttribute('webkitdirectory', ''); }}
            onChange={(e) => { const files = [...(e.target.files ?? [])]; e.target.value = ''; if (files.length) void importModelFiles(target, files); }} />
        </label>
        <div className="field">
          <label className="field-label" htmlFor="bundle-url">From a bundle URL</label>
          <div className="row">
            <input id="bundle-url" className="grow" type="url" placeholder="https://example.org/models/tiny-sd/" value={url}
              onChange={(e) => setUrl(e.target.value)} onKeyDown={(e) => { if (e.key === 'Enter') installFromUrl(); }} data-testid="bundle-url" />
            <button type="button" disabled={busy || !url.trim()} onClick={installFromUrl} data-testid="bundle-install">Install from URL</button>
            <button type="button" disabled={!url.trim()} data-testid="bundle-add"
              onClick={() => { const u = url.trim(); const problem = fetchableUrlProblem(u); if (problem) return setUrlError(problem); setUrlError(''); void installBundle(u); }}>
              Add bundle (manifest.json)
            </button>
          </div>
          <span className="field-help">"Install from URL" fetches the selected model's files from a mirror; "Add bundle" reads a bundle made by tools/convert (its manifest.json) and installs that model.</span>
          {urlError && <span className="error-inline" role="alert">{urlError}</span>}
        </div>
        <HubEndpointField />
      </div>
    </section>
  );
}

/** The Hugging Face Hub's address for every Hugging Face model (a mirror, as HF_ENDPOINT does for huggingface_hub). */
function HubEndpointField() {
  const saved = useStudio((s) => s.hubEndpoint);
  const [value, setValue] = useState(saved);
  const [error, setError] = useState('');
  const save = () => {
    const v = value.trim().replace(/\/+$/, '');
    const problem = v ? fetchableUrlProblem(v) : null;
    if (problem) return setError(problem);
    setError('');
    useStudio.getState().setHubEndpoint(v);
  };
  return (
    <div className="field">
      <label className="field-label" htmlFor="hub-endpoint">Hugging Face endpoint</label>
      <div className="row">
        <input id="hub-endpoint" className="grow" type="url" placeholder="https://huggingface.co" value={value}
          onChange={(e) => setValue(e.target.value)} onKeyDown={(e) => { if (e.key === 'Enter') save(); }} data-testid="hub-endpoint" />
        <button type="button" disabled={value.trim().replace(/\/+$/, '') === saved} onClick={save} data-testid="hub-endpoint-save">Use</button>
      </div>
      <span className="field-help" data-testid="hub-endpoint-current">Hugging Face models install from {saved || 'https://huggingface.co'} (a mirror of the Hub's resolve and API routes works too).</span>
      {error && <span className="error-inline" role="alert">{error}</span>}
    </div>
  );
}

/** Device bytes the installed models hold at the policy: each loaded part at its component's precision. */
function deviceBytesAt(m: ModelEntry, policy: PrecisionPolicy): number {
  return (m.deviceBytes ?? []).reduce((a, p) => a + p.bytes[p.component ? policy[p.component] : 'fp32'], 0);
}

/** What the GPU holds for each model component (int8 / fp16 packed weights, or float32), with the adapter's limits. */
function PrecisionPanel() {
  const info = useStudio((s) => s.precision);
  const models = useStudio((s) => s.models);
  const adapter = useStudio((s) => s.backend?.adapter);
  if (!info) return null;
  const installed = models.filter((m) => m.deviceBytes);
  const bySet = new Map<string, number>();
  for (const m of installed) bySet.set(m.set ?? 'other', (bySet.get(m.set ?? 'other') ?? 0) + deviceBytesAt(m, info.policy));
  return (
    <section className="precision" aria-labelledby="precision-title" data-testid="precision-panel">
      <h3 id="precision-title">Weights on the GPU</h3>
      <p className="muted">
        fp16 and int8 weights stay packed on the GPU and are unpacked inside the kernels: int8 holds a quarter of float32,
        fp16 half. Norms, biases and embeddings stay float32. Changes apply the next time models load.
      </p>
      <div className="precision-grid">
        {(Object.keys(info.labels) as ModelComponent[]).map((c) => (
          <label key={c}>
            <span>{info.labels[c]}</span>
            <select value={info.policy[c]} data-testid={`precision-${c}`}
              onChange={(e) => void useStudio.getState().syncPrecision({ [c]: e.target.value as WeightPrecision })}>
              {info.precisions.map((p) => <option key={p} value={p}>{p}{info.defaults[c] === p ? ' (default)' : ''}</option>)}
            </select>
          </label>
        ))}
      </div>
      {installed.length > 0 && (
        <p data-testid="precision-total">
          Installed models at this setting: {[...bySet].map(([set, bytes]) => `${set === 'sd15' ? 'SD1.5 set' : set === 'tiny' ? 'tiny set' : set === 'demo' ? 'demo set' : 'others'} ${formatBytes(bytes)}`).join(' · ')}
          {adapter ? ` · GPU: one buffer ≤ ${formatBytes(adapter.limits.maxBufferSize)}, one binding ≤ ${formatBytes(adapter.limits.maxStorageBufferBindingSize)}` : ' · no WebGPU adapter (the weights load in CPU memory)'}
        </p>
      )}
    </section>
  );
}

function DeviceBytes({ model: m }: { model: ModelEntry }) {
  const info = useStudio((s) => s.precision);
  const parts = m.deviceBytes ?? [];
  return (
    <div className="muted device-bytes" data-testid={`device-${m.id}`} data-bytes={info ? deviceBytesAt(m, info.policy) : ''}>
      On the GPU{info ? `: ${formatBytes(deviceBytesAt(m, info.policy))} at the current setting` : ''} ({parts.map((p) =>
        `${p.label}: ${p.component ? Object.entries(p.bytes).map(([q, b]) => `${q} ${formatBytes(b)}`).join(', ') : `fp32 ${formatBytes(p.bytes.fp32)}`}`).join('; ')})
      {m.storedError && <> · stored weights: RMS error ≤ {m.storedError.worstRmsRel.toExponential(1)} (mean {m.storedError.meanRmsRel.toExponential(1)}, {m.storedError.tensors} tensors)</>}
    </div>
  );
}
