/**
 * The `kafka` connection kind, as it registers: a broker list that a stream's transport
 * names (roles 'transport'), or that a stream reads existing topics from as its source
 * (roles 'source': topics-source.ts). It has no sink. A topics stream's whereClauses are
 * written in PostgreSQL's dialect and evaluated by sluice on each record it reads.
 */
import type { ConnectorModule } from '../../core';
import { kafkaOptions } from './options';
import { idleSource } from './topics-source';

export const kafkaConnectionModule: ConnectorModule = {
  kind: 'kafka',
  roles: ['transport', 'source'],
  options: kafkaOptions,
  dialect: 'postgresql',
  createSource: () => idleSource(),
};
