import { useEffect } from 'react';
import { BackendBadge } from './BackendBadge';
import { DiagnosticsView } from './DiagnosticsView';
import { ErrorList } from './ErrorList';
import { useStudio } from './store';

export function App() {
  useEffect(() => {
    void useStudio.getState().startEngine();
  }, []);
  return (
    <div className="app">
      <header className="topbar">
        <h1>IPGO Studio</h1>
        <BackendBadge />
      </header>
      <ErrorList />
      <main>
        <DiagnosticsView />
      </main>
    </div>
  );
}
