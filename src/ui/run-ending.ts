import { JobError } from '../worker/protocol';

/** How a run's job that threw ends: stopped by the user, cut by a lost GPU device, or failed. */
export interface RunEnding {
  status: 'paused' | 'failed';
  stage: string;
  /** Saved with the run (none when the user stopped it). */
  error?: string;
  /** The title of the error to show, or null when the user stopped the run. */
  report: string | null;
}

/** A lost device leaves a run resumable from its last checkpoint; without one the run failed. */
export function runEnding(e: unknown, what: string, hasCheckpoint: boolean): RunEnding {
  if (e instanceof JobError && e.code === 'cancelled') return { status: 'paused', stage: 'stopped', report: null };
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof JobError && e.code === 'device-lost' && hasCheckpoint) {
    return { status: 'paused', stage: 'GPU device lost: resume to continue on a new device', error: message, report: 'The GPU device was lost' };
  }
  return { status: 'failed', stage: 'failed', error: message, report: `${what} failed` };
}
