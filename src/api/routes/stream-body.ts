/**
 * The body of POST/PUT /streams and POST /validate: the stream spec, with `options`
 * and `transport` as the registry's connectors declare them (api/option-schemas.ts).
 */
import type { ConnectorRegistry } from '../../runtime/registry';
import { optionSchemas } from '../option-schemas';
import { ID_PATTERN, nameSchema } from '../schemas';

const connectionRef = {
  type: 'object',
  additionalProperties: false,
  required: ['connectionId'],
  properties: { connectionId: { type: 'string', pattern: ID_PATTERN } },
} as const;

/** The source: a connection, and for a kafka connection the existing topics it reads (transport/kafka/topics-source.ts). */
const sourceRef = {
  type: 'object',
  additionalProperties: false,
  required: ['connectionId'],
  properties: {
    connectionId: { type: 'string', pattern: ID_PATTERN },
    topics: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      items: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,249}$' },
      description: 'Kafka source only: the existing topics (Debezium change events) the stream reads, e.g. ["dbserver1.public.orders"]. Default: <topicPrefix>.<schema>.<table> for each of "tables".',
    },
    topicPattern: {
      type: 'string',
      minLength: 1,
      maxLength: 1000,
      description: 'Kafka source only: a regular expression over whole topic names; the topics it matches when the stream starts are read (instead of "topics").',
    },
  },
} as const;

/** The body of POST/PUT /streams and POST /validate; `options` and `transport` as the registry's connectors declare them. */
export function streamBodySchema(registry: ConnectorRegistry) {
  const { streamOptions, transportBody } = optionSchemas(registry);
  return {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'source', 'sink'],
    properties: {
      name: nameSchema,
      source: sourceRef,
      sink: connectionRef,
      transport: transportBody,
      mode: { type: 'string', enum: ['SNAPSHOT', 'CDC', 'CDC_ONLY'], default: 'CDC' },
      tables: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: '"schema.table" names or glob patterns (* and ?), resolved at each start.' },
      excludeTables: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Names or glob patterns of tables to leave out.' },
      relationalTableFilters: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: {
              whereClause: { type: 'string', maxLength: 10000, description: "A row filter in the source's SQL dialect: one expression over the table's columns, pushed into the snapshot and applied to every change." },
              rowCount: { type: 'integer', minimum: 0 },
              includeColumns: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'Only these columns (and the key) leave the source.' },
              excludeColumns: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'These columns never leave the source (key columns cannot be excluded).' },
            },
          },
        },
      },
      mapping: {
        type: 'object',
        additionalProperties: true,
        description: 'The mapping rules ({"tables": {…}}), or {"mappingId": "…"} naming a mapping resource (GET /api/v1/mappings), whose rules each run reads when it starts.',
      },
      schedule: {
        type: 'object',
        additionalProperties: false,
        required: ['cron'],
        description:
          'SNAPSHOT mode only. Each tick starts a run (a fresh snapshot, filters evaluated then), as POST /start would; a tick while a run is active is skipped and logged. ' +
          'POST /stop ends the current run only: remove the schedule with PUT.',
        properties: {
          cron: { type: 'string', minLength: 1, maxLength: 200, description: 'Cron expression: 5 fields, or 6 with seconds first (croner syntax), e.g. "0 2 * * *".' },
          timezone: { type: 'string', minLength: 1, maxLength: 100, description: 'IANA timezone the expression is read in. Default UTC.' },
        },
      },
      options: {
        ...streamOptions,
        description:
          "A flat object: run options (errorHandling, errorTolerance) and the options of the stream's source, sink and transport (StreamOptions lists every one, saying who reads it; README \"Options\"). An option of another kind is refused naming it. Defaults apply when the stream starts and are not stored.",
      },
    },
  } as const;
}
