/**
 * The demo set's suggested prompt: a held-out caption (never seen in training) whose base image the judge reads
 * wrong (the square comes out as a round blob), on which CLIP-score tuning raises the score the most of such
 * captions at the demo's default settings (bench/demo.ts prints each prompt's raw and tuned reward).
 */
export const DEMO_SUGGESTED_PROMPT = 'a small green square at the top, on a white background';
