/**
 * Writes the demo set's training data for tools/demo/train.py: scenes from src/demo/scenes.ts with their CLIP BPE
 * token ids (the app's tokenizer, so training sees exactly the ids the app will feed).
 *
 *   tsx tools/demo/write-dataset.ts OUT_DIR [trainCount=24000] [heldOutCount=2000]
 *
 * OUT_DIR gets {train,held_out}.u8 (N×32×32×3 RGB), {train,held_out}.json (per image: caption index and
 * attribute indices) and captions.json (every caption with its 77 token ids, plus the empty prompt's).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipTokenizer } from '../../src/model/tokenizer/clip-tokenizer';
import {
  BACKGROUND_NAMES, COLOUR_NAMES, POSITIONS, SHAPES, SIZES, allAttributes, caption, captionSplit, sampleScenes, type SceneSample,
} from '../../src/demo/scenes';
import { DEMO_MODEL_DIR } from './paths';

const TRAIN_SEED = 1;
const HELD_OUT_SEED = 2;

function main(): void {
  const [outDir, trainArg = '24000', heldArg = '2000'] = process.argv.slice(2);
  if (!outDir) throw new Error('usage: tsx tools/demo/write-dataset.ts OUT_DIR [trainCount] [heldOutCount]');
  mkdirSync(outDir, { recursive: true });
  const tokenizer = ClipTokenizer.fromFiles(
    readFileSync(join(DEMO_MODEL_DIR, 'demo-sd/tokenizer/vocab.json'), 'utf8'),
    readFileSync(join(DEMO_MODEL_DIR, 'demo-sd/tokenizer/merges.txt'), 'utf8'));
  const captions = allAttributes().map(caption);
  const index = new Map(captions.map((c, i) => [c, i]));
  writeFileSync(join(outDir, 'captions.json'), JSON.stringify({
    captions, tokens: captions.map((c) => tokenizer.encode(c, { padding: 'max_length' })),
    empty_tokens: tokenizer.encode('', { padding: 'max_length' }),
    attribute_names: { colour: COLOUR_NAMES, shape: SHAPES, position: POSITIONS, size: SIZES, background: BACKGROUND_NAMES },
  }));
  const split = captionSplit();
  const write = (name: string, samples: SceneSample[]) => {
    const pixels = new Uint8Array(samples.length * samples[0]!.image.length);
    samples.forEach((s, i) => pixels.set(s.image, i * s.image.length));
    writeFileSync(join(outDir, `${name}.u8`), pixels);
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(samples.map((s) => ({
      caption: index.get(s.caption), colour: COLOUR_NAMES.indexOf(s.attributes.colour), shape: SHAPES.indexOf(s.attributes.shape),
      position: POSITIONS.indexOf(s.attributes.position), size: SIZES.indexOf(s.attributes.size),
      background: BACKGROUND_NAMES.indexOf(s.attributes.background),
    }))));
  };
  write('train', sampleScenes(split.train, Number(trainArg), TRAIN_SEED));
  write('held_out', sampleScenes(split.heldOut, Number(heldArg), HELD_OUT_SEED));
  console.log(`wrote ${trainArg} train and ${heldArg} held-out scenes (${split.heldOut.length} held-out captions) to ${outDir}`);
}

main();
