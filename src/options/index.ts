/**
 * Options: the one parser (defaults, validation naming the field), the composition of
 * a stream's options from its owners, and what the docs and the API read from the
 * declarations. Declarations themselves sit where each plugin registers
 * (connectors/<kind>/options.ts, src/transport/kafka/options.ts, src/runtime/run-options.ts);
 * their types are in src/core/options.ts.
 */
export * from './parse';
export * from './compose';
export * from './describe';
