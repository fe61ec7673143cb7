/**
 * What deleting a stream removes outside the store: what its source created in the
 * database (PostgreSQL's slot and publication) and what its sink keeps beside the
 * documents (MongoDB's embedding staging collections). The sink is reached first and
 * the source dropped before the sink, so that a server that cannot be reached makes
 * this throw (SOURCE_UNREACHABLE / SINK_UNREACHABLE) with, as far as possible, nothing
 * dropped: the caller then keeps the stream, whose slot would otherwise retain WAL
 * forever.
 */
import type { Logger } from 'pino';
import { canDropSink, canDropSource, type ConnectionSpec, type ConnectorModule } from '../core';
import type { RunPlan } from './run-plan';

/** A plan without a source side (`sourceModule: null`) drops the sink's resources only. */
export type ReleasePlan = Pick<RunPlan, 'stream' | 'sinkConnection' | 'sinkModule'> & { sourceModule: ConnectorModule | null; sourceConnection: ConnectionSpec | null };

export async function dropStreamResources(plan: ReleasePlan, opts: { sink: boolean }, logger: Logger): Promise<void> {
  const args = { stream: plan.stream, logger };
  const sink = opts.sink ? plan.sinkModule.createSink!({ ...args, connection: plan.sinkConnection }) : null;
  try {
    const droppable = sink && canDropSink(sink) ? sink : null;
    await droppable?.drop({ check: true });
    if (plan.sourceModule && plan.sourceConnection) {
      const source = plan.sourceModule.createSource!({ ...args, connection: plan.sourceConnection });
      try {
        if (canDropSource(source)) await source.drop();
      } finally {
        await source.close().catch((err: unknown) => logger.warn({ err }, 'closing the source after drop failed'));
      }
    }
    await droppable?.drop();
  } finally {
    await sink?.close().catch((err: unknown) => logger.warn({ err }, 'closing the sink after drop failed'));
  }
}
