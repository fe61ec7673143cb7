/**
 * Mapping resources: named mapping rules (the `tables` of a MappingSpec,
 * src/transform/mapping/spec.ts) that streams reference with
 * `"mapping": {"mappingId": "…"}` instead of carrying the rules themselves. A run
 * reads the rules when it starts, so a PUT here takes effect at each stream's next start.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { SluiceError } from '../../errors';
import type { MappingInput, MappingRecord } from '../../store/mappings';
import { errorResponses, idParams, listQuery, nameSchema, pageOf } from '../schemas';
import { validateMapping } from '../../transform/mapping';

const FIELD_TYPES = ['objectId', 'date', 'decimal128', 'uuid', 'string', 'int', 'long', 'double', 'boolean'] as const;

const name = { type: 'string', minLength: 1, maxLength: 200 } as const;

/** TableMapping as a JSON schema: every level rejects unknown fields. */
export const tableMappingSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    collection: { ...name, description: "The collection of this table's own documents; the table name when left out." },
    newDocuments: { type: 'boolean', description: 'false: the table writes no documents of its own (it is only embedded). Default true.' },
    fields: {
      type: 'object',
      description: 'Per source column.',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          name: { ...name, description: 'The field name in the document; the column name when left out.' },
          include: { type: 'boolean', description: 'false leaves the column out. Default true.' },
          type: { type: 'string', enum: [...FIELD_TYPES] },
        },
      },
    },
    nulls: { type: 'string', enum: ['keep', 'omit'] },
    id: {
      type: 'object',
      additionalProperties: false,
      required: ['strategy'],
      properties: { strategy: { type: 'string', enum: ['key', 'objectId'] }, keyField: name },
    },
    embed: {
      type: 'object',
      additionalProperties: false,
      required: ['into', 'kind', 'foreignKey'],
      properties: {
        into: { ...name, description: 'The parent table, "schema.table".' },
        kind: { type: 'string', enum: ['array', 'document', 'merge'] },
        field: name,
        foreignKey: { type: 'array', minItems: 1, items: name },
        sort: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, required: ['field'], properties: { field: name, desc: { type: 'boolean' } } },
        },
      },
    },
  },
} as const;

const mappingBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'tables'],
  properties: {
    name: nameSchema,
    description: { type: 'string', maxLength: 2000 },
    tables: {
      type: 'object',
      description: 'Source table ("schema.table") → where its rows go: MappingSpec.tables.',
      additionalProperties: tableMappingSchema,
    },
  },
} as const;

const mappingView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    tables: { type: 'object', additionalProperties: true },
    usedBy: { type: 'array', items: { type: 'string' }, description: 'Ids of the streams that reference this mapping.' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

export async function mappingRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const mappings = deps.store.mappings;
  const notFound = (id: string) => new SluiceError('MAPPING_NOT_FOUND', `No mapping ${id}.`, { id });
  const load = async (id: string): Promise<MappingRecord> => (await mappings.get(id)) ?? Promise.reject(notFound(id));
  const view = async (m: MappingRecord) => ({ ...m, usedBy: await mappings.usedBy(m.id) });

  app.get<{ Querystring: { limit?: number; offset?: number; sort?: string; name?: string } }>(
    '/mappings',
    {
      schema: {
        tags: ['mappings'],
        summary: 'List mapping resources',
        querystring: listQuery(['name', 'createdAt', 'updatedAt'], { name: { type: 'string' } }),
        response: { 200: pageOf(mappingView), ...errorResponses() },
      },
    },
    async (req) => {
      const { limit, offset, sort, name: n } = req.query;
      const page = await mappings.list({ limit, offset, sort, filters: { name: n } });
      return { ...page, items: await Promise.all(page.items.map(view)) };
    },
  );

  app.post<{ Body: MappingInput }>(
    '/mappings',
    {
      schema: {
        tags: ['mappings'],
        summary: 'Create a mapping resource that streams can reference with {"mappingId": "…"}',
        body: mappingBody,
        response: { 201: mappingView, ...errorResponses('MAPPING_NAME_TAKEN', 'MAPPING_INVALID') },
      },
    },
    async (req, reply) => {
      // The same rules check as a stream's own mapping (embed targets, key columns, types).
      validateMapping({ tables: req.body.tables });
      // A taken name is refused in the insert's own transaction (MAPPING_NAME_TAKEN).
      return reply.status(201).send(await view(await mappings.create(req.body)));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/mappings/:id',
    {
      schema: { tags: ['mappings'], summary: 'One mapping resource', params: idParams, response: { 200: mappingView, ...errorResponses('MAPPING_NOT_FOUND') } },
    },
    async (req) => view(await load(req.params.id)),
  );

  app.put<{ Params: { id: string }; Body: MappingInput }>(
    '/mappings/:id',
    {
      schema: {
        tags: ['mappings'],
        summary: "Replace a mapping's rules; each stream that references it uses them from its next start",
        params: idParams,
        body: mappingBody,
        response: { 200: mappingView, ...errorResponses('MAPPING_NOT_FOUND', 'MAPPING_NAME_TAKEN', 'MAPPING_INVALID') },
      },
    },
    async (req) => {
      await load(req.params.id);
      validateMapping({ tables: req.body.tables });
      const updated = await mappings.update(req.params.id, req.body);
      if (!updated) throw notFound(req.params.id);
      return view(updated);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/mappings/:id',
    {
      schema: {
        tags: ['mappings'],
        summary: 'Delete a mapping resource no stream references',
        params: idParams,
        response: { 204: { type: 'null', description: 'Deleted' }, ...errorResponses('MAPPING_NOT_FOUND', 'MAPPING_IN_USE') },
      },
    },
    async (req, reply) => {
      // One transaction checks that no stream references it (MAPPING_IN_USE) and deletes it.
      if (!(await mappings.deleteIfUnused(req.params.id))) throw notFound(req.params.id);
      return reply.status(204).send();
    },
  );
}
