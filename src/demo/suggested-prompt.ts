/**
 * The demo set's suggested prompt: a held-out caption (never seen in training) whose base image, at the demo's
 * default settings, shows something else than asked, and which CLIP-score tuning visibly corrects
 * (bench/demo.ts reports it).
 */
export const DEMO_SUGGESTED_PROMPT = 'a small green square at the top, on a white background';
