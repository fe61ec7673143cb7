/**
 * POST /streams/{id}/verify: the source against MongoDB, table by table (see
 * src/runtime/verify.ts). Synchronous: the answer is the result. While it runs the
 * stream's metadata.verificationStatus is VERIFYING, then VERIFIED (no difference),
 * FAILED (differences found) or ABORTED (the verification itself could not finish:
 * a server unreachable, a bad filter), persisted and shown by GET /streams/{id}.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ApiDeps } from '../deps';
import { SluiceError, isSluiceError, toSluiceError } from '../../errors';
import { verifyStream, type VerifyRequest } from '../../runtime/verify';
import { resolveMapping } from '../../runtime/run-plan';
import { errorResponses, idParams } from '../schemas';
import { STREAM_READ_ERRORS, streamConnections, streamReadBody } from './stream-reads';

const difference = {
  type: 'object',
  required: ['key', 'kind'],
  properties: {
    key: { type: 'object', additionalProperties: true },
    kind: { type: 'string', enum: ['missing', 'extra', 'different'] },
    fields: { type: 'array', items: { type: 'string' } },
  },
} as const;

const tableResult = {
  type: 'object',
  required: ['table', 'collection', 'sourceCount', 'sinkCount', 'missing', 'extra', 'different', 'differences'],
  properties: {
    table: { type: 'string' },
    collection: { type: 'string' },
    sourceCount: { type: 'integer' },
    sinkCount: { type: 'integer' },
    missing: { type: 'integer' },
    extra: { type: 'integer' },
    different: { type: 'integer' },
    differences: { type: 'array', items: difference },
    mode: {
      type: 'string',
      enum: ['direct', 'embedded'],
      description:
        'direct: the table\'s own documents in collection. embedded: the table\'s rows as the mapping embeds them in the documents of embeddedIn ' +
        '(counts are the child rows the compared parents should hold and hold: every row for an array, one for a document or merge; differences name parents and the embedded field). ' +
        'A table with its own documents and an embed rule appears twice, once per mode.',
    },
    embeddedIn: { type: 'string', description: 'mode embedded: the parent table' },
    skipped: { type: 'string', description: 'Why the table was not compared' },
  },
} as const;

export async function verifyRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store } = deps;
  const running = new Set<string>();

  app.post<{ Params: { id: string }; Body: (VerifyRequest & { passwords?: Record<string, string> }) | undefined }>(
    '/streams/:id/verify',
    {
      schema: {
        tags: ['streams'],
        summary: 'Verify the stream: compare the source with MongoDB, table by table',
        description:
          'Counts first, then every source row (with the stream\'s whereClause, rowCount and column filters) against the document the sink writes for it ' +
          '(the mapping rules applied: fields, type overrides, nulls, _id strategy, collection names, embedded children read from the source for each chunk of parents), ' +
          'in key-ordered chunks of chunkSize, then the documents no source row explains. Lists the first maxDifferences differing keys per table. ' +
          'Synchronous, meant for tables up to about 100k rows; a stream under live CDC can show changes still in flight. ' +
          'Sets metadata.verificationStatus: VERIFYING, then VERIFIED, FAILED (differences) or ABORTED (could not finish).',
        params: idParams,
        body: streamReadBody({
          tables: { type: 'array', maxItems: 1000, items: { type: 'string', minLength: 1, maxLength: 300 }, description: 'Only these of the stream\'s tables' },
          maxDifferences: { type: 'integer', minimum: 0, maximum: 1000, default: 10 },
          chunkSize: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
        }),
        response: {
          200: {
            type: 'object',
            required: ['status', 'verificationStatus', 'tables'],
            properties: {
              status: { type: 'string', enum: ['PASSED', 'FAILED'] },
              verificationStatus: { type: 'string', enum: ['VERIFIED', 'FAILED'] },
              startedAt: { type: 'string' },
              finishedAt: { type: 'string' },
              tables: { type: 'array', items: tableResult },
            },
          },
          ...errorResponses('STREAM_NOT_FOUND', 'STREAM_INVALID_TRANSITION', ...STREAM_READ_ERRORS),
        },
      },
    },
    async (req) => {
      const id = req.params.id;
      // Claimed before the first await: a second request meanwhile is refused.
      if (running.has(id)) {
        throw new SluiceError('STREAM_INVALID_TRANSITION', `A verification of stream ${id} is already running; wait for its answer.`, { id, verificationStatus: 'VERIFYING' });
      }
      running.add(id);
      try {
        const rec = await store.streams.get(id);
        if (!rec) throw new SluiceError('STREAM_NOT_FOUND', `No stream ${id}.`, { id });
        const { passwords: supplied, ...request } = req.body ?? {};
        const { source, sink } = await streamConnections(deps, id, rec.spec, supplied);
        const startedAt = new Date().toISOString();
        // Metadata is changed in one store transaction (and not for a stream deleted meanwhile).
        await store.streams.updateMetadata(id, (m) => ({ ...m, verificationRequested: true, verificationStatus: 'VERIFYING' }));
        try {
          // A mapping resource is resolved as a run resolves it (its rules as they are now).
          const stream = await resolveMapping(rec.spec, { getMapping: async (mid) => { const m = await store.mappings.get(mid); return m ? { tables: m.tables } : undefined; } });
          const report = await verifyStream({ registry: deps.connectors, stream, source, sink, request, logger: req.log as unknown as Logger });
          const verificationStatus = report.status === 'PASSED' ? 'VERIFIED' : 'FAILED';
          const finishedAt = new Date().toISOString();
          await store.streams.updateMetadata(id, () => ({ verificationRequested: true, verificationStatus, verifiedAt: finishedAt }));
          return { status: report.status, verificationStatus, startedAt, finishedAt, tables: report.tables };
        } catch (err) {
          await store.streams.updateMetadata(id, () => ({ verificationRequested: true, verificationStatus: 'ABORTED', verifiedAt: new Date().toISOString() }));
          throw isSluiceError(err) ? err : toSluiceError(err);
        }
      } finally {
        running.delete(id);
      }
    },
  );
}
