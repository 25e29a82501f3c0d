import { useEffect, useState, type ReactNode } from 'react';
import { BackendBadge } from './BackendBadge';
import { DiagnosticsView } from './DiagnosticsView';
import { ErrorList } from './ErrorList';
import { ModelsView } from './models/ModelsView';
import { TuneView } from './tune/TuneView';
import { BatchView } from './batch/BatchView';
import { TokensView } from './tokens/TokensView';
import { RunsView } from './runs/RunsView';
import { useStudio } from './store';
import { UpdateBanner } from '../pwa/UpdateBanner';

interface View { id: string; label: string; render: () => ReactNode }

/** The app's views, in tab order; the URL hash (#/models, …) selects one, so views are linkable and work offline. */
const VIEWS: View[] = [
  { id: 'tune', label: 'Tune', render: () => <TuneView /> },
  { id: 'batch', label: 'Batch', render: () => <BatchView /> },
  { id: 'tokens', label: 'Tokens', render: () => <TokensView /> },
  { id: 'runs', label: 'Runs', render: () => <RunsView /> },
  { id: 'models', label: 'Models', render: () => <ModelsView /> },
  { id: 'diagnostics', label: 'Diagnostics', render: () => <DiagnosticsView /> },
];

function viewFromHash(): string {
  const id = globalThis.location?.hash.replace(/^#\/?/, '') ?? '';
  return VIEWS.some((v) => v.id === id) ? id : VIEWS[0]!.id;
}

export function App() {
  const [view, setView] = useState(viewFromHash);
  useEffect(() => {
    void useStudio.getState().startEngine();
    const onHash = () => setView(viewFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const current = VIEWS.find((v) => v.id === view)!;
  return (
    <div className="app">
      <header className="topbar">
        <h1>IPGO Studio</h1>
        <nav aria-label="Views" className="tabs">
          {VIEWS.map((v) => (
            <a key={v.id} href={`#/${v.id}`} aria-current={v.id === view ? 'page' : undefined} className={v.id === view ? 'tab active' : 'tab'}>
              {v.label}
            </a>
          ))}
        </nav>
        <BackendBadge />
      </header>
      <UpdateBanner />
      <ErrorList />
      <main>{current.render()}</main>
    </div>
  );
}
