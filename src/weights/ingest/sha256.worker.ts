/// <reference lib="webworker" />
/** Hashes install units for WorkerSha256 (the whole-file sha256 off the reading thread); see sha256-stage.ts. */
import { answerSha256, type Sha256Request } from './sha256-stage';

declare const self: DedicatedWorkerGlobalScope;

self.onmessage = (ev: MessageEvent<Sha256Request>) => {
  void answerSha256(ev.data).then(({ reply, transfer }) => self.postMessage(reply, transfer));
};
