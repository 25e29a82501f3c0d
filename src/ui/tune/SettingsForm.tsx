import type { ReactNode } from 'react';
import type { StudioCatalog, TuneSettings } from '../../worker/studio-protocol';
import { useStudio } from '../store';

function Field({ label, help, children }: { label: string; help?: string; children: ReactNode }) {
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      {children}
      {help && <span className="field-help">{help}</span>}
    </label>
  );
}

/** The tuning settings, rendered from the worker's catalog (rewards, model sets, samplers, help lines). */
export function SettingsForm({ disabled }: { disabled: boolean }) {
  const catalog = useStudio((st) => st.catalog);
  const s = useStudio((st) => st.tune.settings);
  if (catalog.status === 'failed') {
    return (
      <fieldset className="settings" data-testid="settings-catalog" data-status="failed">
        <legend>Settings</legend>
        <p className="error-inline" role="alert">The studio's catalog (rewards, model sets) could not be read: {catalog.error}</p>
        <button type="button" onClick={() => void useStudio.getState().loadCatalog()}>Retry</button>
      </fieldset>
    );
  }
  if (!catalog.value || !s) {
    return (
      <fieldset className="settings" data-testid="settings-catalog" data-status="loading">
        <legend>Settings</legend>
        <p className="muted">Loading the rewards and model sets…</p>
      </fieldset>
    );
  }
  return <SettingsFields catalog={catalog.value} s={s} disabled={disabled} />;
}

function SettingsFields({ catalog, s, disabled }: { catalog: StudioCatalog; s: TuneSettings; disabled: boolean }) {
  const modelSet = useStudio((st) => st.tune.modelSet);
  const { updateSettings, chooseModelSet } = useStudio.getState();
  const help = catalog.help;
  const num = (key: keyof TuneSettings, step = 1, min?: number, max?: number) => (
    <input type="number" step={step} min={min} max={max} value={s[key] as number} disabled={disabled} data-testid={`setting-${key}`}
      onChange={(e) => updateSettings({ [key]: Number(e.target.value) } as Partial<TuneSettings>)} />
  );
  const set = catalog.modelSets.find((m) => m.id === modelSet);
  return (
    <fieldset className="settings" disabled={disabled} data-testid="settings-catalog" data-status="ready">
      <legend>Settings</legend>
      <Field label="Model" help={set?.note}>
        <select value={modelSet} onChange={(e) => chooseModelSet(e.target.value)} data-testid="model-set">
          {catalog.modelSets.map((m) => <option key={m.id} value={m.id}>{m.label}</option>)}
        </select>
      </Field>
      <div className="field">
        <span className="field-label">Reward weights</span>
        <div className="row">
          {catalog.rewards.map((r) => (
            <label key={r.id} className="inline" title={r.description}>
              {r.label}
              <input type="number" step={0.1} min={0} value={s.mix[r.id] ?? 0} data-testid={`weight-${r.id}`} style={{ width: '4.5em' }}
                onChange={(e) => updateSettings({ mix: { ...s.mix, [r.id]: Number(e.target.value) } })} />
            </label>
          ))}
        </div>
        <span className="field-help">The paper trains one reward at a time (one-hot); mixes are our extension.</span>
      </div>
      <div className="grid2">
        <Field label="Tokens per side (n)" help={help.numTokens}>{num('numTokens', 1, 1, 38)}</Field>
        <Field label="Rank (r)" help={help.rank}>{num('rank', 1, 1)}</Field>
        <Field label="Bound" help={help.bound}>{num('bound', 0.1, 0.1)}</Field>
        <Field label="Rotations" help={help.rotation}>
          <select value={s.rotation} onChange={(e) => updateSettings({ rotation: e.target.value as TuneSettings['rotation'] })} data-testid="setting-rotation">
            <option value="intended">intended</option>
            <option value="off">off (notebook)</option>
          </select>
        </Field>
        <Field label="Steps" help={help.steps}>{num('steps', 1, 1, 1000)}</Field>
        <Field label="CFG" help={help.guidance}>{num('guidance', 0.5)}</Field>
        <Field label="Scheduler" help={help.scheduler}>
          <select value={s.scheduler} onChange={(e) => updateSettings({ scheduler: e.target.value as TuneSettings['scheduler'] })} data-testid="setting-scheduler">
            {catalog.schedulers.map((x) => <option key={x.name} value={x.name}>{x.label}</option>)}
          </select>
        </Field>
        <Field label="K" help={help.gradLastK}>{num('gradLastK', 1, 1)}</Field>
        <Field label="Seed" help={help.seed}>{num('seed', 1, 0)}</Field>
        <Field label="Learning rate" help={help.lr}>{num('lr', 0.0001, 0)}</Field>
        <Field label="Epochs" help={help.epochs}>{num('epochs', 1, 1)}</Field>
        <Field label="λ (conformity)" help={help.penaltyWeight}>{num('penaltyWeight', 0.0001, 0)}</Field>
        <Field label="Width" help={help.size}>{num('width', 8, 8)}</Field>
        <Field label="Height">{num('height', 8, 8)}</Field>
      </div>
    </fieldset>
  );
}
