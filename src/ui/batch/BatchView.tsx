import { useStudio } from '../store';
import { RgbaCanvas } from '../components/RgbaCanvas';
import { downloadText } from '../components/download';
import { splitHeldOut } from '../../lib/held-out-split';
import { EpochTable } from '../tune/RunCharts';

const pm = (s: { mean: number; std: number }) => `${s.mean.toFixed(4)} ± ${s.std.toFixed(4)}`;
const percent = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '—');

/** How the list splits, in words (the rule: the last prompts are held out). */
function splitPreview(n: number, heldOut: number): string {
  try {
    const s = splitHeldOut(n, heldOut);
    return `${s.train} training, ${s.heldOut} held-out prompts (the last ${s.heldOut} of the list).`;
  } catch (e) {
    return (e as Error).message;
  }
}

/** One token set over a prompt list; raw vs tuned on held-out prompts, as the paper's tables. */
export function BatchView() {
  const b = useStudio((s) => s.batch);
  const settings = useStudio((s) => s.tune.settings);
  const ready = useStudio((s) => s.backendStatus === 'ready');
  const { setBatch, loadPromptFile, startBatch, pauseBatch, stopBatch } = useStudio.getState();
  const prompts = b.promptsText.split('\n').map((p) => p.trim()).filter(Boolean);
  const split = splitPreview(prompts.length, b.heldoutFraction);
  const running = b.status === 'running' || b.status === 'pausing';
  const rows = b.run?.rows ?? [];
  const evaluation = b.result?.evaluation ?? null;
  return (
    <section className="panel" aria-labelledby="batch-title">
      <h2 id="batch-title">Batch-wise IPGO</h2>
      <p className="muted">One token set trained over the training prompts (gradient accumulation {settings?.gradAccumulation ?? '…'}, StepLR 15/0.95),
        then evaluated raw vs tuned. Model and other settings come from the Tune view.</p>
      <div className="grid2">
        <label className="field">
          <span className="field-label">Prompts, one per line</span>
          <textarea rows={6} value={b.promptsText} disabled={running} onChange={(e) => setBatch({ promptsText: e.target.value })} data-testid="batch-prompts" />
        </label>
        <div>
          <label className="field">
            <span className="field-label">Load a prompt file (.txt, .jsonl, .csv with a "prompt" column)</span>
            <input type="file" accept=".txt,.jsonl,.csv,.tsv" disabled={running} data-testid="batch-file"
              onChange={async (e) => { const f = e.target.files?.[0]; if (f) loadPromptFile(f.name, await f.text()); e.target.value = ''; }} />
          </label>
          {b.fileError && <p className="error-inline" role="alert" data-testid="batch-file-error">{b.fileError}</p>}
          <label className="field">
            <span className="field-label">Held-out share</span>
            <input type="number" min={0} max={0.5} step={0.05} value={b.heldoutFraction} disabled={running} data-testid="batch-heldout"
              onChange={(e) => setBatch({ heldoutFraction: Number(e.target.value) })} />
            <span className="field-help">{split}</span>
          </label>
          <label className="field">
            <span className="field-label">Epochs</span>
            <input type="number" min={1} value={b.epochs} disabled={running} data-testid="batch-epochs" onChange={(e) => setBatch({ epochs: Number(e.target.value) })} />
          </label>
        </div>
      </div>
      <div className="row">
        <button type="button" onClick={() => void startBatch()} disabled={!ready || !settings || running || prompts.length === 0} data-testid="batch-start">Start batch run</button>
        <button type="button" onClick={pauseBatch} disabled={b.status !== 'running'} data-testid="batch-pause">Pause</button>
        <button type="button" onClick={() => b.run && void startBatch(b.run)} disabled={!ready || b.status !== 'paused' || !b.run?.checkpoint} data-testid="batch-resume">Resume</button>
        <button type="button" onClick={stopBatch} disabled={!running}>Stop</button>
        <span className="status" data-testid="batch-status" data-status={b.status}>{b.status}{b.stage ? ` — ${b.stage}` : ''}</span>
      </div>
      {b.result && evaluation && (
        <>
          <h3>Evaluation ({evaluation.rows} {rows.some((r) => r?.split === 'heldout') ? 'held-out prompts' : 'training prompts: no held-out split'})</h3>
          <table className="epochs" data-testid="batch-table">
            <thead><tr><th>reward</th><th>raw (mean ± std)</th><th>tuned (mean ± std)</th><th>win-rate</th></tr></thead>
            <tbody>
              {Object.entries(evaluation.rewards).map(([id, byColumn]) => (
                <tr key={id}><td>{id}</td><td>{pm(byColumn.raw!)}</td><td>{pm(byColumn.tuned!)}</td><td>{percent(evaluation.winRateByReward.tuned?.[id])}</td></tr>
              ))}
            </tbody>
          </table>
          <p data-testid="batch-winrate">Win-rate (tuned weighted reward beats raw): {percent(evaluation.winRate.tuned)}</p>
          <button type="button" onClick={() => downloadText('batch.ipgo-tokens.json', JSON.stringify(b.result!.tokens, null, 2) + '\n')}>Export tokens</button>
        </>
      )}
      {rows.length > 0 && (
        <div className="gallery" data-testid="batch-gallery">
          {rows.map((r, i) => r && (
            <div key={i} className="gallery-row">
              <p><strong>{r.split}</strong> {r.prompt}</p>
              <RgbaCanvas image={r.raw?.image} label={`raw ${r.raw ? r.raw.weightedReward.toFixed(4) : ''}`} size={128} />
              <RgbaCanvas image={r.tuned?.image} label={`tuned ${r.tuned ? r.tuned.weightedReward.toFixed(4) : ''}`} size={128} />
            </div>
          ))}
        </div>
      )}
      {b.run && b.run.records.length > 0 && <EpochTable records={b.run.records} />}
    </section>
  );
}
