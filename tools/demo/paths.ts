/** Where the committed demo model set lives (served as-is under /demo/ by Vite from public/). */
import { fileURLToPath } from 'node:url';

export const DEMO_MODEL_DIR = fileURLToPath(new URL('../../public/demo/', import.meta.url));
