import type { JobHandlers } from '../protocol';
import type { StudioJobs } from '../studio-protocol';

export const studioHandlers: JobHandlers<StudioJobs> = {};
