/**
 * The contract package: the event, its values, positions, Source and Sink, the
 * connector module and the specs it is created from. Everything else in sluice
 * depends on it, and it imports nothing of the project (only node and pino's Logger
 * type): a connector needs nothing but this, its own files and pure helpers that sit
 * on it (src/transform, src/errors.ts, src/source-kit).
 */
export * from './values';
export * from './event';
export * from './position';
export * from './context';
export * from './spec';
export * from './source';
export * from './sink';
export * from './connector';
export * from './dead-letter';
export * from './options';
export * from './abort';
export * from './backoff';
