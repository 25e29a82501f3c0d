import { useEffect, useSyncExternalStore } from 'react';
import { applyUpdate, pwaState, startServiceWorker, subscribePwa } from './register';
import './pwa.css';

/** Starts the service worker and, when a new version is waiting, offers to switch to it. */
export function UpdateBanner() {
  const { updateReady, updating } = useSyncExternalStore(subscribePwa, pwaState);
  useEffect(startServiceWorker, []);
  if (!updateReady) return null;
  return (
    <div className="update-banner" role="status" data-testid="update-banner">
      <span>Update available — a new version of IPGO Studio is ready.</span>
      <button type="button" data-testid="update-reload" onClick={applyUpdate} disabled={updating}>
        {updating ? 'Reloading…' : 'Reload'}
      </button>
    </div>
  );
}
