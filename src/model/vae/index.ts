export * from './attention';
export * from './autoencoder-kl';
export * from './config';
export * from './keys';
export type { Tap } from './encoder';
