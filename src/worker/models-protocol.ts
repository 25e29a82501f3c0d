/** Model-management jobs (install, import, list, verify, delete): declared by the weights layer's worker jobs. */
export interface ModelJobs {}
