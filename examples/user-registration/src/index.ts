export * from './handlers.ts';
export * from './services/index.ts';
