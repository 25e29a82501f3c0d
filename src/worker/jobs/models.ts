import type { JobHandlers } from '../protocol';
import type { ModelJobs } from '../models-protocol';

export const modelHandlers: JobHandlers<ModelJobs> = {};
