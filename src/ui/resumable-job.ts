import type { RunningJob } from '../worker/client';
import { JobError, type Jobs } from '../worker/protocol';

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

/** The one running job of a view whose runs pause after an epoch and resume from their checkpoint (Tune, Batch). */
export class ResumableJob<K extends 'tune' | 'batch'> {
  private job: RunningJob<K> | null = null;

  constructor(private readonly what: string) {}

  get running(): boolean {
    return this.job !== null;
  }

  /** Starts a job and waits for it; a job that throws ends as `runEnding` says. */
  async run(start: () => RunningJob<K>, on: {
    done: (result: Jobs[K]['result']) => void;
    ended: (end: RunEnding) => void;
    hasCheckpoint: () => boolean;
    /** Shows an error that the user did not cause by stopping. */
    report: (error: unknown, title: string) => void;
  }): Promise<void> {
    if (this.job) return;
    this.job = start();
    try {
      on.done(await this.job.result);
    } catch (e) {
      const end = runEnding(e, this.what, on.hasCheckpoint());
      on.ended(end);
      if (end.report) on.report(e, end.report);
    } finally {
      this.job = null;
    }
  }

  /** Asks the job to stop after its current epoch; false when none runs. */
  pause(): boolean {
    this.job?.control('pause' as never);
    return this.job !== null;
  }

  stop(): void {
    this.job?.cancel();
  }
}
