import { describe, expect, it } from 'vitest';
import { bundledManifests, downloadBytesOf, findManifest, isBuiltin, precisionsOf } from './catalog';

describe('bundled manifest catalog', () => {
  it('bundles every weights-manifest/*.json except the schema, built-in tiny set first, pipeline first in each set', () => {
    const ids = bundledManifests().map((m) => m.id);
    expect(ids).toEqual(['demo-sd', 'demo-clip', 'demo-aesthetic', 'demo-hps', 'tiny-sd', 'tiny-clip', 'tiny-aesthetic', 'tiny-hps', 'sd15', 'clip-vit-l14', 'laion-aesthetic-l14', 'hpsv2']);
    expect(bundledManifests().filter(isBuiltin).map((m) => m.id)).toEqual(['demo-sd', 'demo-clip', 'demo-aesthetic', 'demo-hps', 'tiny-sd', 'tiny-clip', 'tiny-aesthetic', 'tiny-hps']);
  });

  it('summarizes sizes and precisions', () => {
    const tiny = findManifest('tiny-sd')!;
    expect(downloadBytesOf(tiny)).toMatchObject({ exact: true });
    expect(downloadBytesOf(findManifest('sd15')!).exact).toBe(false);
    expect(precisionsOf(findManifest('sd15')!)).toEqual(['fp16']);
    expect(findManifest('nope')).toBeUndefined();
  });
});
