import { useEffect } from 'react';
import { useStudio } from '../store';
import { RgbaCanvas } from '../components/RgbaCanvas';
import { RunCharts } from '../tune/RunCharts';
import type { BatchRunRecord, PromptRunRecord, RunRecord } from '../persist';

const resumable = (r: RunRecord) => (r.status === 'paused' || r.status === 'interrupted') && r.checkpoint !== null;
const mixLabel = (r: RunRecord) => Object.entries(r.settings.mix).filter(([, w]) => w).map(([k, w]) => `${k}·${w}`).join(' + ');

function PromptRunImages({ run }: { run: PromptRunRecord }) {
  return (
    <div className="images">
      <RgbaCanvas image={run.raw?.image} label="raw" size={128} />
      <RgbaCanvas image={run.best?.image} label={run.best ? `best (epoch ${run.best.epoch})` : 'best'} size={128} />
    </div>
  );
}

function BatchRunImages({ run }: { run: BatchRunRecord }) {
  return (
    <div className="gallery">
      {run.rows.map((row, i) => row && (
        <div key={i} className="gallery-row">
          <p><strong>{row.split}</strong> {row.prompt}</p>
          <RgbaCanvas image={row.raw?.image} label="raw" size={96} />
          <RgbaCanvas image={row.tuned?.image} label="tuned" size={96} />
        </div>
      ))}
    </div>
  );
}

/** Every tuning and batch run with its settings and curves; paused or interrupted runs resume from their checkpoint. */
export function RunsView() {
  const runs = useStudio((s) => s.runs);
  const busy = useStudio((s) => s.tune.status === 'running' || s.tune.status === 'pausing' || s.batch.status === 'running' || s.batch.status === 'pausing');
  const { refreshRuns, removeRun, startTune, startBatch } = useStudio.getState();
  useEffect(() => {
    void refreshRuns();
  }, [refreshRuns]);
  if (runs.length === 0) return <section className="panel"><h2>Runs</h2><p className="muted">No runs yet.</p></section>;
  const resume = (r: RunRecord) => {
    if (r.kind === 'prompt') {
      location.hash = '#/tune';
      void startTune(r);
    } else {
      location.hash = '#/batch';
      void startBatch(r);
    }
  };
  return (
    <section className="panel" aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      {runs.map((r) => (
        <details key={r.id} className="run" data-testid="run-row" data-kind={r.kind} data-status={r.status}>
          <summary>
            <strong>{r.kind === 'prompt' ? r.prompt : `batch of ${r.prompts.length} prompts`}</strong> · {r.status} ·{' '}
            {r.kind === 'prompt' ? `${r.records.length}/${r.settings.epochs} epochs` : `${r.records.length} records`} · {r.settings.models.sd} ·{' '}
            {mixLabel(r)} · {new Date(r.createdAt).toLocaleString()}
          </summary>
          <div className="row">
            {resumable(r) && (r.kind === 'batch' || r.raw) && (
              <button type="button" disabled={busy} onClick={() => resume(r)} data-testid="run-resume">Resume</button>
            )}
            <button type="button" onClick={() => void removeRun(r.id)}>Delete</button>
          </div>
          {r.error && <p className="error-inline">{r.error}</p>}
          {r.kind === 'prompt' ? <PromptRunImages run={r} /> : <BatchRunImages run={r} />}
          <RunCharts records={r.records} />
          <pre className="settings-json">{JSON.stringify(r.settings, null, 1)}</pre>
        </details>
      ))}
    </section>
  );
}
