import { useEffect } from 'react';
import { useStudio } from '../store';
import { RgbaCanvas } from '../components/RgbaCanvas';
import { RunCharts } from '../tune/RunCharts';

/** Every tuning run with its settings and curves; paused or interrupted runs resume from their last checkpoint. */
export function RunsView() {
  const runs = useStudio((s) => s.runs);
  const busy = useStudio((s) => s.tune.status === 'running' || s.tune.status === 'pausing');
  const { refreshRuns, removeRun, startTune } = useStudio.getState();
  useEffect(() => {
    void refreshRuns();
  }, [refreshRuns]);
  if (runs.length === 0) return <section className="panel"><h2>Runs</h2><p className="muted">No runs yet.</p></section>;
  return (
    <section className="panel" aria-labelledby="runs-title">
      <h2 id="runs-title">Runs</h2>
      {runs.map((r) => (
        <details key={r.id} className="run" data-testid="run-row" data-status={r.status}>
          <summary>
            <strong>{r.prompt}</strong> · {r.status} · {r.records.length}/{r.settings.epochs} epochs · {r.settings.models.sd} ·{' '}
            {Object.entries(r.settings.mix).filter(([, w]) => w).map(([k, w]) => `${k}·${w}`).join(' + ')} · {new Date(r.createdAt).toLocaleString()}
          </summary>
          <div className="row">
            {(r.status === 'paused' || r.status === 'interrupted') && r.checkpoint && r.raw && (
              <button type="button" disabled={busy} onClick={() => { location.hash = '#/tune'; void startTune(r); }} data-testid="run-resume">Resume</button>
            )}
            <button type="button" onClick={() => void removeRun(r.id)}>Delete</button>
          </div>
          {r.error && <p className="error-inline">{r.error}</p>}
          <div className="images">
            <RgbaCanvas image={r.raw?.image} label="raw" size={128} />
            <RgbaCanvas image={r.best?.image} label={r.best ? `best (epoch ${r.best.epoch})` : 'best'} size={128} />
          </div>
          <RunCharts records={r.records} />
          <pre className="settings-json">{JSON.stringify(r.settings, null, 1)}</pre>
        </details>
      ))}
    </section>
  );
}
