/** Studio jobs (load a model, generate, tune, batch, apply tokens). */
export interface StudioJobs {}
