import { initNodeBackend } from '../tools/lib/tf-node';

await initNodeBackend('webgpu');
