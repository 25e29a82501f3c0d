/**
 * The demo model set's world: seeded 32×32 scenes of one coloured shape on a plain background, captioned by a
 * small English grammar ("a small red circle at the top, on a gray background"). The training script, the
 * judge's check and the benchmarks all draw from this one generator, so what the models were trained on and what
 * they are measured against cannot drift apart.
 */
import { Rng } from '../ipgo/rng';

export const SCENE_SIZE = 32;

export const COLOURS = {
  red: [220, 40, 40], green: [40, 170, 60], blue: [40, 80, 220], yellow: [235, 215, 40], purple: [150, 60, 190], orange: [245, 140, 30],
} as const satisfies Record<string, readonly [number, number, number]>;
export const BACKGROUNDS = { white: [240, 240, 240], black: [20, 20, 20], gray: [128, 128, 128] } as const satisfies Record<string, readonly [number, number, number]>;
export const SHAPES = ['circle', 'square', 'triangle'] as const;
export const POSITIONS = ['left', 'right', 'top', 'bottom'] as const;
export const SIZES = ['small', 'big'] as const;

export type Colour = keyof typeof COLOURS;
export type Background = keyof typeof BACKGROUNDS;
export type Shape = (typeof SHAPES)[number];
export type Position = (typeof POSITIONS)[number];
export type Size = (typeof SIZES)[number];

/** What a caption says (and what the judge reads back). */
export interface SceneAttributes { colour: Colour; shape: Shape; position: Position; size: Size; background: Background }

export const COLOUR_NAMES = Object.keys(COLOURS) as Colour[];
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as Background[];

export function caption(a: SceneAttributes): string {
  return `a ${a.size} ${a.colour} ${a.shape} at the ${a.position}, on a ${a.background} background`;
}

/** Every caption the grammar makes, in a fixed order. */
export function allAttributes(): SceneAttributes[] {
  const out: SceneAttributes[] = [];
  for (const size of SIZES) for (const colour of COLOUR_NAMES) for (const shape of SHAPES)
    for (const position of POSITIONS) for (const background of BACKGROUND_NAMES) out.push({ colour, shape, position, size, background });
  return out;
}

/** Share of captions held out of training: a seeded choice of captions (not images), the same on every machine. */
export const HELD_OUT_SHARE = 0.1;
export const SPLIT_SEED = 16;

/** The grammar's captions split into train and held-out by caption. */
export function captionSplit(): { train: SceneAttributes[]; heldOut: SceneAttributes[] } {
  const all = allAttributes();
  const rng = new Rng(SPLIT_SEED);
  const keyed = all.map((a) => ({ a, key: rng.uniform() }));
  const nHeld = Math.round(all.length * HELD_OUT_SHARE);
  const order = [...keyed].sort((x, y) => x.key - y.key);
  const held = new Set(order.slice(0, nHeld).map((k) => k.a));
  return { train: all.filter((a) => !held.has(a)), heldOut: all.filter((a) => held.has(a)) };
}

const jitter = (rng: Rng, spread: number) => (rng.uniform() * 2 - 1) * spread;

/** Centre of the shape for a position word, in pixels. */
function anchor(position: Position): [number, number] {
  const near = SCENE_SIZE * 0.27;
  const far = SCENE_SIZE * 0.73;
  const mid = SCENE_SIZE / 2;
  return { left: [near, mid], right: [far, mid], top: [mid, near], bottom: [mid, far] }[position] as [number, number];
}

function inside(shape: Shape, dx: number, dy: number, r: number): boolean {
  if (shape === 'circle') return dx * dx + dy * dy <= r * r;
  if (shape === 'square') return Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85;
  // Upright triangle: apex at the top, base at the bottom.
  const t = (dy + r) / (2 * r);
  return t >= 0 && t <= 1 && Math.abs(dx) <= t * r;
}

/** One RGB image [SCENE_SIZE, SCENE_SIZE, 3] (uint8, row-major) of the attributes, varied by `rng`. */
export function renderScene(a: SceneAttributes, rng: Rng): Uint8Array {
  const n = SCENE_SIZE;
  const img = new Uint8Array(n * n * 3);
  const [ax, ay] = anchor(a.position);
  const cx = ax + jitter(rng, 2);
  const cy = ay + jitter(rng, 2);
  const r = (a.size === 'small' ? 4.5 : 7.5) + jitter(rng, 0.8);
  const shade = (rgb: readonly number[], spread: number) => rgb.map((v) => Math.max(0, Math.min(255, v + jitter(rng, spread))));
  const fg = shade(COLOURS[a.colour], 15);
  const bg = shade(BACKGROUNDS[a.background], 10);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const rgb = inside(a.shape, x + 0.5 - cx, y + 0.5 - cy, r) ? fg : bg;
      img.set(rgb.map(Math.round), (y * n + x) * 3);
    }
  }
  return img;
}

export interface SceneSample { attributes: SceneAttributes; caption: string; image: Uint8Array }

/** `count` scenes drawn uniformly from `pool`, reproducible from `seed`. */
export function sampleScenes(pool: readonly SceneAttributes[], count: number, seed: number): SceneSample[] {
  if (pool.length === 0) throw new Error('sampleScenes: the caption pool is empty');
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const attributes = pool[Math.floor(rng.uniform() * pool.length)]!;
    return { attributes, caption: caption(attributes), image: renderScene(attributes, rng) };
  });
}

/** Reads a caption of this grammar back into its attributes; null for any other text. */
export function parseCaption(text: string): SceneAttributes | null {
  const m = /^a (small|big) (\w+) (circle|square|triangle) at the (left|right|top|bottom), on a (\w+) background$/.exec(text.trim());
  if (!m || !(m[2]! in COLOURS) || !(m[5]! in BACKGROUNDS)) return null;
  return { size: m[1] as Size, colour: m[2] as Colour, shape: m[3] as Shape, position: m[4] as Position, background: m[5] as Background };
}
