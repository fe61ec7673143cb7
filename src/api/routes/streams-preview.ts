/**
 * POST /streams/{id}/mapping/preview: the documents N sample rows of the source would
 * become under the stream's mapping rules (see src/runtime/mapping-preview.ts). Reads
 * the source and asks the sink server what it is; writes nothing. The stream may be in
 * any state. Operator: the answer holds customer data.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ApiDeps } from '../deps';
import { SluiceError, isSluiceError, toSluiceError } from '../../errors';
import { previewMapping, PREVIEW_DEFAULT_LIMIT, PREVIEW_MAX_LIMIT, type PreviewRequest } from '../../runtime/mapping-preview';
import { resolveMapping } from '../../runtime/run-plan';
import { storePersistence } from '../../store/persistence';
import { errorResponses, idParams } from '../schemas';
import { STREAM_READ_ERRORS, streamConnections, streamReadBody } from './stream-reads';

const previewError = {
  type: 'object',
  required: ['table', 'collection', 'key', 'field', 'message'],
  properties: {
    table: { type: 'string', description: 'The table of the row that cannot be converted' },
    collection: { type: 'string' },
    key: { type: 'object', additionalProperties: true, description: 'The row\'s primary key' },
    field: { type: 'string', description: 'The column whose value cannot be converted' },
    message: { type: 'string', description: 'What the sink would say when rejecting the record' },
  },
} as const;

export async function previewRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store } = deps;
  const persistence = storePersistence(store);

  app.post<{ Params: { id: string }; Body: (PreviewRequest & { passwords?: Record<string, string> }) | undefined }>(
    '/streams/:id/mapping/preview',
    {
      schema: {
        tags: ['streams'],
        summary: 'Preview the documents sample source rows become under the stream\'s mapping rules',
        description:
          'For each of the stream\'s tables with documents of its own: its first `limit` rows in key order (with the stream\'s whereClause, rowCount and column filters), ' +
          'with the rows of the tables embedded into it (the children of exactly those parents), converted exactly as the sink converts them ' +
          '(the sink server is asked what it is: on FerretDB v1 decimals are their exact text). Nothing is written. ' +
          'Documents are canonical Extended JSON ({"$oid": …}, {"$numberLong": …}, {"$numberDecimal": …}, {"$date": …}), so every BSON type is distinguishable; ' +
          'under the objectId _id strategy the server generates _id, so a document has the key field only. ' +
          'A row that cannot be converted is an entry of `errors` (table, key, field, the sink\'s message); the other documents still come back.',
        params: idParams,
        body: streamReadBody({
          limit: { type: 'integer', minimum: 1, maximum: PREVIEW_MAX_LIMIT, default: PREVIEW_DEFAULT_LIMIT, description: 'Rows per table' },
          tables: {
            type: 'array',
            minItems: 1,
            maxItems: 1000,
            items: { type: 'string', minLength: 1, maxLength: 300 },
            description: 'Only these of the stream\'s tables (schema.table); tables that are only embedded appear inside their parents',
          },
        }),
        response: {
          200: {
            type: 'object',
            required: ['collections'],
            properties: {
              collections: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['table', 'collection', 'documents'],
                  properties: {
                    table: { type: 'string' },
                    collection: { type: 'string' },
                    documents: { type: 'array', items: { type: 'object', additionalProperties: true } },
                  },
                },
              },
              errors: { type: 'array', items: previewError },
            },
          },
          ...errorResponses('STREAM_NOT_FOUND', ...STREAM_READ_ERRORS),
        },
      },
    },
    async (req) => {
      const id = req.params.id;
      const rec = await store.streams.get(id);
      if (!rec) throw new SluiceError('STREAM_NOT_FOUND', `No stream ${id}.`, { id });
      const stream = await resolveMapping(rec.spec, persistence);
      const { passwords: supplied, ...request } = req.body ?? {};
      const { source, sink } = await streamConnections(deps, id, stream, supplied);
      try {
        return await previewMapping({ registry: deps.connectors, stream, source, sink, request, logger: req.log as unknown as Logger });
      } catch (err) {
        throw isSluiceError(err) ? err : toSluiceError(err);
      }
    },
  );
}
