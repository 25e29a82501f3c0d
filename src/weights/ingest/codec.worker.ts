/// <reference lib="webworker" />
/** Encodes (quantizes + checksums) commit units for WorkerCodecPool; see unit-codec.ts. */
import { answerEncode, type EncodeRequest } from './unit-codec';

declare const self: DedicatedWorkerGlobalScope;

self.onmessage = (ev: MessageEvent<EncodeRequest>) => {
  void answerEncode(ev.data).then(({ reply, transfer }) => self.postMessage(reply, transfer));
};
