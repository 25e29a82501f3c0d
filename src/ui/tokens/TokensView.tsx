import { useEffect } from 'react';
import { useStudio } from '../store';
import { RgbaCanvas } from '../components/RgbaCanvas';
import { downloadText, slug } from '../components/download';

/** Saved token sets: import (validated), export, delete, and apply to a new prompt beside the raw image. */
export function TokensView() {
  const saved = useStudio((s) => s.saved);
  const importError = useStudio((s) => s.importError);
  const apply = useStudio((s) => s.apply);
  const ready = useStudio((s) => s.backendStatus === 'ready');
  const { refreshTokens, importTokens, removeTokens, exportTokensJson, setApply, applyTokens } = useStudio.getState();
  useEffect(() => {
    void refreshTokens();
  }, [refreshTokens]);
  return (
    <section className="panel" aria-labelledby="tokens-title">
      <h2 id="tokens-title">Tokens</h2>
      <label className="field">
        <span className="field-label">Import a tokens file (.json)</span>
        <input type="file" accept=".json,application/json" data-testid="tokens-import"
          onChange={async (e) => { const f = e.target.files?.[0]; if (f) await importTokens(await f.text(), f.name); e.target.value = ''; }} />
      </label>
      {importError && <p className="error-inline" role="alert" data-testid="tokens-import-error">{importError}</p>}
      {saved.length === 0 ? <p className="muted" data-testid="tokens-empty">No saved token sets yet: tune a prompt and save its tokens, or import a file.</p> : (
        <table className="epochs" data-testid="tokens-list">
          <thead><tr><th /><th>name</th><th>model</th><th>n × r</th><th>rotation</th><th>rewards</th><th>trained on</th><th>saved</th><th /></tr></thead>
          <tbody>
            {saved.map((t) => (
              <tr key={t.id} data-testid="tokens-row">
                <td><input type="radio" name="apply-tokens" aria-label={`Use ${t.name}`} checked={apply.tokensId === t.id} onChange={() => setApply({ tokensId: t.id })} /></td>
                <td>{t.name}</td><td>{t.file.modelId}</td><td>{t.file.numTokens} × {t.file.rank}</td><td>{t.file.rotation}</td>
                <td>{Object.entries(t.file.rewardWeights).map(([k, v]) => `${k}·${v}`).join(' + ')}</td>
                <td>{t.file.prompts.join('; ')}</td><td>{new Date(t.createdAt).toLocaleString()}</td>
                <td>
                  <button type="button" onClick={() => downloadText(`${slug(t.name)}.ipgo-tokens.json`, exportTokensJson(t.id))}>Export</button>
                  <button type="button" onClick={() => void removeTokens(t.id)} aria-label={`Delete ${t.name}`}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Apply to a new prompt</h3>
      <div className="row">
        <input className="grow" value={apply.prompt} onChange={(e) => setApply({ prompt: e.target.value })} aria-label="Prompt to apply the tokens to" data-testid="apply-prompt" />
        <button type="button" disabled={!ready || !apply.tokensId || apply.running} onClick={() => void applyTokens()} data-testid="apply-run">Apply</button>
      </div>
      {apply.warnings.map((w) => <p key={w} className="muted">{w}</p>)}
      <div className="images">
        <RgbaCanvas image={apply.raw?.image} label={`Raw${apply.raw ? `: ${apply.raw.weightedReward.toFixed(4)}` : ''}`} testId="apply-raw" />
        <RgbaCanvas image={apply.tuned?.image ?? apply.preview} label={`With tokens${apply.tuned ? `: ${apply.tuned.weightedReward.toFixed(4)}` : ''}`} testId="apply-tuned" />
      </div>
    </section>
  );
}
