export * from './attention';
export * from './autoencoder-kl';
export * from './config';

export type { Tap } from './encoder';
