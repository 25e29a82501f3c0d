/**
 * Catalog jobs: what the studio offers (rewards, model sets with their defaults, samplers, text widths), read
 * from the domain's own lists so the UI holds none of them, and the check of a token file before it is saved.
 */
import { IPGO_SCHEDULERS } from '../../ipgo/config-check';
import { MODEL_SETS, SETTING_HELP, textDimsBySdModel } from '../../ipgo/model-sets';
import { parseTokensFile } from '../../ipgo/tokens-json';
import { SCHEDULERS } from '../../model/schedulers';
import { REWARDS } from '../../rewards/registry';
import { JobError, type JobHandlers } from '../protocol';
import type { CatalogJobs, IpgoTokensFile, SchedulerName, StudioCatalog } from '../studio-protocol';

export function studioCatalog(): StudioCatalog {
  return {
    rewards: REWARDS.map(({ id, label, description, display: { min, max, unit }, defaultWeight }) => ({
      id, label, description, display: unit === undefined ? { min, max } : { min, max, unit }, defaultWeight,
    })),
    modelSets: structuredClone([...MODEL_SETS]),
    schedulers: SCHEDULERS.filter((s) => (IPGO_SCHEDULERS as readonly string[]).includes(s.name)).map(({ name, label }) => ({ name: name as SchedulerName, label })),
    textDims: textDimsBySdModel(),
    help: { ...SETTING_HELP },
  };
}

/** A token file's text, parsed and validated against the model it names; invalid-input naming the problem. */
export function checkTokensText(text: string): IpgoTokensFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new JobError('invalid-input', `not a JSON file: ${(e as Error).message}`);
  }
  const textDims = textDimsBySdModel();
  const modelId = (raw as { modelId?: unknown } | null)?.modelId;
  const textDim = typeof modelId === 'string' && Object.hasOwn(textDims, modelId) ? textDims[modelId]! : undefined;
  if (textDim === undefined) {
    throw new JobError('invalid-input', `ipgo-tokens: modelId ${JSON.stringify(modelId)} is not a model this app runs (${Object.keys(textDims).join(', ')})`);
  }
  try {
    parseTokensFile(raw, { textDim, modelId: modelId as string });
  } catch (e) {
    // whatever the validator throws, the file is what is wrong
    throw new JobError('invalid-input', e instanceof Error ? e.message : String(e));
  }
  return raw as IpgoTokensFile;
}

export const catalogHandlers: JobHandlers<CatalogJobs> = {
  catalog: async () => studioCatalog(),
  checkTokens: async ({ text }) => {
    if (typeof text !== 'string') throw new JobError('invalid-input', 'checkTokens needs the file\'s text');
    return checkTokensText(text);
  },
};
