/**
 * The demo set's suggested prompt: a held-out caption (never seen in training) whose base image the CLIP score
 * rates far below the others at the demo's default settings, and on which CLIP-score tuning raises it the most
 * (bench/demo.ts prints each prompt's raw and tuned reward).
 */
export const DEMO_SUGGESTED_PROMPT = 'a small orange circle at the bottom, on a gray background';
