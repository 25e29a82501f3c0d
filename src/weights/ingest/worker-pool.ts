/**
 * WorkerPool: requests to a few dedicated workers, each answered by id (`{id, ok: true, ...}` or
 * `{id, ok: false, error}`). A request goes to the worker with the fewest pending ones; with one worker, replies
 * come in the order requests were sent. A worker that fails (onerror) fails its pending requests — their
 * transferred buffers went with it — and is replaced, so later requests never go to a worker that may be dead.
 * Used by the install's codec pool (unit-codec.ts) and sha256 stage (sha256-stage.ts).
 */
export type PoolReply = { id: number; ok: true } | { id: number; ok: false; error: string };

export class WorkerPool<Req extends { id: number }, Reply extends PoolReply> {
  private readonly workers: { worker: Worker; pending: number }[] = [];
  private readonly waiting = new Map<number, { resolve: (r: Extract<Reply, { ok: true }>) => void; reject: (e: Error) => void; slot: number }>();
  private nextId = 0;

  /** `label` names the workers in errors ("codec worker failed: …"). */
  constructor(size: number, private readonly create: () => Worker, private readonly label: string) {
    for (let i = 0; i < size; i++) this.workers.push({ worker: this.spawn(i), pending: 0 });
  }

  private spawn(slot: number): Worker {
    const worker = this.create();
    worker.onmessage = (ev: MessageEvent<Reply>) => this.settle(ev.data);
    worker.onerror = (ev) => this.fail(slot, new Error(`${this.label} worker failed: ${ev.message || 'unknown error'}`));
    return worker;
  }

  /** Sends the request `make(id)` builds, transferring `transfer`; resolves with the worker's ok reply. */
  request(make: (id: number) => Req, transfer: (req: Req) => Transferable[]): Promise<Extract<Reply, { ok: true }>> {
    const slot = this.leastBusy();
    const req = make(this.nextId++);
    return new Promise((resolve, reject) => {
      this.waiting.set(req.id, { resolve, reject, slot });
      this.workers[slot]!.pending++;
      this.workers[slot]!.worker.postMessage(req, transfer(req));
    });
  }

  private leastBusy(): number {
    let best = 0;
    this.workers.forEach((w, i) => { if (w.pending < this.workers[best]!.pending) best = i; });
    return best;
  }

  private settle(reply: Reply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    this.workers[w.slot]!.pending--;
    if (reply.ok) w.resolve(reply as Extract<Reply, { ok: true }>);
    else w.reject(new Error((reply as { error: string }).error));
  }

  private fail(slot: number, error: Error): void {
    for (const [id, w] of this.waiting) {
      if (w.slot !== slot) continue;
      this.waiting.delete(id);
      w.reject(error);
    }
    this.workers[slot]!.worker.terminate();
    this.workers[slot] = { worker: this.spawn(slot), pending: 0 };
  }

  dispose(): void {
    for (const { worker } of this.workers) worker.terminate();
    for (const w of this.waiting.values()) w.reject(new Error(`${this.label} pool disposed`));
    this.waiting.clear();
  }
}

/**
 * An install stage shared by every install on this thread, made on first use: `onWorkers()` where the
 * environment has workers, else `inline` (Node, tests).
 */
export function sharedStage<T>(inline: T, onWorkers: () => T): () => T {
  let shared: T | undefined;
  return () => (shared ??= typeof Worker === 'undefined' ? inline : onWorkers());
}
