import { useState } from 'react';
import { useStudio } from '../store';
import { RgbaCanvas } from '../components/RgbaCanvas';
import { downloadText, slug } from '../components/download';
import { SettingsForm } from './SettingsForm';
import { EpochTable, RunCharts } from './RunCharts';

const fmt = (rewards: Record<string, number> | undefined) =>
  rewards ? Object.entries(rewards).map(([id, v]) => `${id} ${v.toFixed(4)}`).join(', ') : '';

/** Tune a prompt: settings on the left, the live run on the right. */
export function TuneView() {
  const t = useStudio((s) => s.tune);
  const ready = useStudio((s) => s.backendStatus === 'ready');
  const { setPrompt, startTune, pauseTune, stopTune, saveTunedTokens } = useStudio.getState();
  const [tokenName, setTokenName] = useState('');
  const busy = t.status === 'running' || t.status === 'pausing';
  const run = t.run;
  const records = run?.records ?? [];
  const suggested = useStudio((s) => s.catalog.value?.modelSets.find((m) => m.id === s.tune.modelSet)?.suggestedPrompt);
  return (
    <div className="tune">
      <section className="panel" aria-labelledby="tune-title">
        <h2 id="tune-title">Tune a prompt</h2>
        <label className="field">
          <span className="field-label">Prompt</span>
          <textarea value={t.prompt} onChange={(e) => setPrompt(e.target.value)} disabled={busy} rows={2} data-testid="prompt" />
        </label>
        {suggested && suggested !== t.prompt && (
          <p className="muted">
            Suggested for this model set (its base image gets it wrong):{' '}
            <button type="button" onClick={() => setPrompt(suggested)} disabled={busy} data-testid="prompt-suggested">{suggested}</button>
          </p>
        )}
        <div className="row">
          <button type="button" onClick={() => void startTune()} disabled={!ready || !t.settings || busy} data-testid="tune-start">Start</button>
          <button type="button" onClick={pauseTune} disabled={t.status !== 'running'} data-testid="tune-pause">Pause</button>
          <button type="button" onClick={() => run && void startTune(run)} disabled={t.status !== 'paused' || !run?.checkpoint} data-testid="tune-resume">Resume</button>
          <button type="button" onClick={stopTune} disabled={!busy} data-testid="tune-stop">Stop</button>
          <span className="status" data-testid="tune-status" data-status={t.status}>
            {t.status}{t.stage ? ` — ${t.stage}` : ''}
            {t.step ? ` · ${t.step.phase} step ${t.step.step + 1}/${t.step.total}` : ''}
            {busy && run ? ` · epoch ${records.length}/${run.settings.epochs}` : ''}
          </span>
        </div>
        {busy && t.step && <progress max={t.step.total} value={t.step.step + 1} aria-label="sampling progress" />}
        <MemoryCheck disabled={busy || !ready || !t.settings} />
        <SettingsForm disabled={busy} />
      </section>
      <section className="panel" aria-labelledby="live-title">
        <h2 id="live-title">Live</h2>
        <div className="images">
          <RgbaCanvas image={run?.raw?.image} label={`Raw prompt${run?.raw ? `: ${fmt(run.raw.rewards)}` : ''}`} testId="img-raw" />
          <RgbaCanvas image={t.preview} label="Denoising preview" size={128} testId="img-preview" />
          <RgbaCanvas image={t.current} label={`Current (epoch ${Math.max(records.length - 1, 0)})`} testId="img-current" />
          <RgbaCanvas image={run?.best?.image} label={`Best${run?.best ? ` (epoch ${run.best.epoch}): ${fmt(run.best.rewards)}` : ''}`} testId="img-best" />
        </div>
        <RunCharts records={records} />
        <EpochTable records={records} />
        {t.tokens && (
          <div className="row tokens-actions">
            <label className="inline">Name
              <input value={tokenName} onChange={(e) => setTokenName(e.target.value)} placeholder={t.prompt} data-testid="token-name" />
            </label>
            <button type="button" onClick={() => void saveTunedTokens(tokenName)} data-testid="tokens-save">Save tokens</button>
            <button type="button" data-testid="tokens-export"
              onClick={() => downloadText(`${slug(tokenName || t.prompt)}.ipgo-tokens.json`, JSON.stringify(t.tokens, null, 2) + '\n')}>
              Export JSON
            </button>
          </div>
        )}
      </section>
    </div>
  );
}

const GiB = 2 ** 30;

/** The preflight: one update's predicted peak GPU memory against the budget, with advice when it is over. */
function MemoryCheck({ disabled }: { disabled: boolean }) {
  const m = useStudio((s) => s.tune.memory);
  const { setGpuBudget, checkMemory } = useStudio.getState();
  const r = m.report;
  return (
    <div className="memory-check" data-testid="memory-check">
      <label className="inline">GPU memory budget (GiB)
        <input type="number" min={0.5} step={0.5} value={m.budgetGiB} disabled={disabled} data-testid="gpu-budget"
          onChange={(e) => setGpuBudget(Number(e.target.value))} />
      </label>
      <button type="button" onClick={() => void checkMemory()} disabled={disabled || m.checking} data-testid="preflight-run">
        {m.checking ? 'Checking…' : 'Check memory'}
      </button>
      {r && (
        <div data-testid="preflight-result" data-ok={String(r.ok)} data-applies={String(r.applies)} data-peak={Math.round(r.peakBytes)}>
          <p className={r.ok || !r.applies ? 'muted' : 'warning'}>
            {r.message[0]!.toUpperCase() + r.message.slice(1)}: sampling {(r.phases.sampling / GiB).toFixed(2)}, reward {(r.phases.reward / GiB).toFixed(2)},
            backward {(r.phases.backward / GiB).toFixed(2)} GiB of activations.
            {!r.applies && ' Not on WebGPU: the budget does not apply to this backend.'}
            {r.applies && !r.ok && ' Start will refuse this run.'}
          </p>
          {r.advice.length > 0 && <ul>{r.advice.map((a) => <li key={a}>{a}</li>)}</ul>}
        </div>
      )}
    </div>
  );
}
