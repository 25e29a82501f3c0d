import type { ReactNode } from 'react';
import type { TuneSettings } from '../../worker/studio-protocol';
import type { RewardId } from '../../rewards/registry';
import { HELP, MODEL_SETS } from './defaults';
import { useStudio } from '../store';

const REWARDS: { id: RewardId; label: string }[] = [
  { id: 'aesthetic', label: 'Aesthetic' },
  { id: 'clip', label: 'CLIP score' },
  { id: 'hps', label: 'HPSv2' },
];

function Field({ label, help, children }: { label: string; help?: string; children: ReactNode }) {
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      {children}
      {help && <span className="field-help">{help}</span>}
    </label>
  );
}

/** The tuning settings with the paper's defaults and a one-line explanation each. */
export function SettingsForm({ disabled }: { disabled: boolean }) {
  const s = useStudio((st) => st.tune.settings);
  const modelSet = useStudio((st) => st.tune.modelSet);
  const { updateSettings, chooseModelSet } = useStudio.getState();
  const num = (key: keyof TuneSettings, step = 1, min?: number, max?: number) => (
    <input type="number" step={step} min={min} max={max} value={s[key] as number} disabled={disabled} data-testid={`setting-${key}`}
      onChange={(e) => updateSettings({ [key]: Number(e.target.value) } as Partial<TuneSettings>)} />
  );
  const set = MODEL_SETS.find((m) => m.id === modelSet);
  return (
    <fieldset className="settings" disabled={disabled}>
      <legend>Settings</legend>
      <Field label="Model" help={set?.note}>
        <select value={modelSet} onChange={(e) => chooseModelSet(e.target.value)} data-testid="model-set">
          {MODEL_SETS.map((m) => <option key={m.id} value={m.id}>{m.label}</option>)}
        </select>
      </Field>
      <div className="field">
        <span className="field-label">Reward weights</span>
        <div className="row">
          {REWARDS.map((r) => (
            <label key={r.id} className="inline">
              {r.label}
              <input type="number" step={0.1} min={0} value={s.mix[r.id] ?? 0} data-testid={`weight-${r.id}`} style={{ width: '4.5em' }}
                onChange={(e) => updateSettings({ mix: { ...s.mix, [r.id]: Number(e.target.value) } })} />
            </label>
          ))}
        </div>
        <span className="field-help">The paper trains one reward at a time (one-hot); mixes are our extension.</span>
      </div>
      <div className="grid2">
        <Field label="Tokens per side (n)" help={HELP.numTokens}>{num('numTokens', 1, 1, 38)}</Field>
        <Field label="Rank (r)" help={HELP.rank}>{num('rank', 1, 1)}</Field>
        <Field label="Bound" help={HELP.bound}>{num('bound', 0.1, 0.1)}</Field>
        <Field label="Rotations" help={HELP.rotation}>
          <select value={s.rotation} onChange={(e) => updateSettings({ rotation: e.target.value as TuneSettings['rotation'] })} data-testid="setting-rotation">
            <option value="intended">intended</option>
            <option value="off">off (notebook)</option>
          </select>
        </Field>
        <Field label="Steps" help={HELP.steps}>{num('steps', 1, 1, 1000)}</Field>
        <Field label="CFG" help={HELP.guidance}>{num('guidance', 0.5)}</Field>
        <Field label="Scheduler" help={HELP.scheduler}>
          <select value={s.scheduler} onChange={(e) => updateSettings({ scheduler: e.target.value as TuneSettings['scheduler'] })} data-testid="setting-scheduler">
            <option value="lms">LMS</option>
            <option value="euler">Euler</option>
            <option value="ddim">DDIM</option>
          </select>
        </Field>
        <Field label="K" help={HELP.gradLastK}>{num('gradLastK', 1, 1)}</Field>
        <Field label="Seed" help={HELP.seed}>{num('seed', 1, 0)}</Field>
        <Field label="Learning rate" help={HELP.lr}>{num('lr', 0.0001, 0)}</Field>
        <Field label="Epochs" help={HELP.epochs}>{num('epochs', 1, 1)}</Field>
        <Field label="λ (conformity)" help={HELP.penaltyWeight}>{num('penaltyWeight', 0.0001, 0)}</Field>
        <Field label="Width" help={HELP.size}>{num('width', 8, 8)}</Field>
        <Field label="Height">{num('height', 8, 8)}</Field>
      </div>
    </fieldset>
  );
}
