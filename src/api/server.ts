/**
 * The control API: Fastify with JSON-schema validation, the error envelope,
 * API-key auth, the audit trail, and an OpenAPI 3 document generated from the route
 * schemas (served at /openapi.json and browsable at /docs). HTTPS when given a
 * certificate (api.tls), plain HTTP otherwise.
 */
import type { Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import Ajv from 'ajv';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { ApiDeps } from './deps';
import { SluiceError } from '../errors';
import { errorEnvelopeSchema, errorResponses, loneSurrogateAt } from './schemas';
import { installErrorHandling } from './errors';
import { addDiscriminatorMappings, optionSchemas } from './option-schemas';
import { installAuth } from './auth';
import { installAudit } from './audit';
import { healthRoutes } from './routes/health';
import { apiKeyRoutes } from './routes/api-keys';
import { connectionRoutes } from './routes/connections';
import { streamRoutes } from './routes/streams';
import { mappingRoutes } from './routes/mappings';
import { validateRoutes } from './routes/validate';
import { jobRoutes } from './routes/jobs';
import { auditRoutes } from './routes/audit';
import { VERSION } from '../version';
import { requestSerializer } from '../logger';

export interface ApiServerOptions {
  /** Serve HTTPS with this certificate chain and key (PEM). */
  https?: { cert: Buffer; key: Buffer };
}

export async function buildApi(deps: ApiDeps, server: ApiServerOptions = {}): Promise<FastifyInstance> {
  const options = {
    // Request logs show the URL with secret-looking query parameters redacted (a key sent as ?apiKey= was logged).
    loggerInstance: deps.logger.child({ component: 'api' }, { serializers: { req: requestSerializer } }) as FastifyBaseLogger,
    bodyLimit: deps.config.api.bodyLimitBytes,
    // `schema.table` of PostgreSQL can be 127 characters; longer path parameters get 414 (below).
    routerOptions: { maxParamLength: 512 },
    // Fastify's own refusals of a URL (a malformed %-escape, a path parameter past
    // maxParamLength) leave in the one envelope too.
    frameworkErrors: (err: FastifyError, _req: unknown, reply: unknown) => {
      const e =
        err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new SluiceError('URI_TOO_LONG', 'A path parameter is longer than 512 characters.')
          : new SluiceError('HTTP_REQUEST_MALFORMED', `The request URL cannot be read (${err.code}): check its %-escapes.`, { fastifyCode: err.code });
      void (reply as unknown as { code(n: number): { send(b: unknown): unknown } }).code(e.status).send(e.toEnvelope());
    },
    // A request Node's HTTP parser refuses (a control character in a header, say) never
    // reaches a route: answer it in the same envelope as every other error.
    clientErrorHandler: (err: Error, socket: Socket) => {
      if (!socket.writable) return void socket.destroy(err);
      const e = new SluiceError('HTTP_REQUEST_MALFORMED', `The HTTP request could not be parsed (${(err as { code?: string }).code ?? err.message}).`);
      const body = JSON.stringify(e.toEnvelope());
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  };
  // Fastify types an HTTPS instance apart; the routes do not care which it is.
  const app = (server.https ? Fastify({ ...options, https: server.https }) : Fastify(options)) as unknown as FastifyInstance;
  // Bodies are JSON and must be typed right ("7" is not 7); query strings and path
  // parameters are text, so they are coerced. Unknown fields are errors, not dropped.
  // discriminator: a connection body is chosen by its kind, so a bad option is reported for that kind alone.
  const strict = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false, discriminator: true, formats: { password: true } });
  // The options every connector declares: documented with defaults, validated without (option-schemas.ts).
  const optionDocs = optionSchemas(deps.connectors);
  for (const s of optionDocs.validation) strict.addSchema(s);
  const coercing = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, strict: false, formats: { password: true } });
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercing.compile(schema);
    const validate = strict.compile(schema);
    // A body whose fields are all optional may be left out altogether.
    const s = schema as { required?: unknown[]; minProperties?: number };
    const optional = !s.required?.length && !s.minProperties;
    if (!optional) return validate;
    // Fastify reads `.errors` off the function it was given, so carry them over.
    const maybeAbsent = Object.assign(
      (data: unknown): boolean => {
        if (data === undefined || data === null) return true;
        const ok = validate(data);
        maybeAbsent.errors = validate.errors;
        return ok;
      },
      { errors: null as typeof validate.errors },
    );
    return maybeAbsent;
  });
  app.addSchema(errorEnvelopeSchema);
  for (const s of optionDocs.docs) app.addSchema(s);
  installErrorHandling(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'sluice control API',
        version: VERSION,
        description:
          'Control plane of the sluice CDC daemon. Every /api/v1 call needs an API key in X-API-Key (or Authorization: Bearer). ' +
          'Errors use one envelope: {"error":{"code","category","message","suggestion","detail"}}.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transformObject: (doc) => addDiscriminatorMappings((doc as { openapiObject: Record<string, unknown> }).openapiObject) as never,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });

  app.addHook('onRequest', async (req) => {
    if (deps.isShuttingDown() && req.url.startsWith('/api/')) {
      throw new SluiceError('SHUTTING_DOWN', 'The daemon is shutting down.');
    }
  });
  // Text that no UTF-8 can carry (a lone surrogate sent as "\ud800") is refused in every body, naming the field.
  app.addHook('preValidation', async (req) => {
    const at = req.body === undefined ? null : loneSurrogateAt(req.body);
    if (at) throw new SluiceError('VALIDATION_FAILED', `body field "${at}" is not valid Unicode (a lone surrogate: was the text UTF-8?)`, { location: 'body', field: at, rule: 'unicode' });
  });
  installAuth(app, {
    keys: deps.store.apiKeys,
    maxFailures: deps.config.api.authFailures.max,
    windowSeconds: deps.config.api.authFailures.windowSeconds,
  });
  installAudit(app, { repo: deps.store.audit, retentionDays: deps.config.audit.retentionDays });

  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
  await app.register(healthRoutes, deps);
  await app.register(
    async (v1) => {
      v1.get(
        '/',
        {
          schema: {
            tags: ['meta'],
            summary: 'API information and the calling key',
            response: {
              ...errorResponses(),
              200: {
                type: 'object',
                properties: {
                  name: { type: 'string' },
                  version: { type: 'string' },
                  key: {
                    type: 'object',
                    properties: { id: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, expiresAt: { type: ['string', 'null'], format: 'date-time' } },
                  },
                },
              },
            },
          },
        },
        async (req) => ({ name: 'sluice', version: VERSION, key: { id: req.apiKey?.id, name: req.apiKey?.name, role: req.apiKey?.role, expiresAt: req.apiKey?.expiresAt ?? null } }),
      );
      await v1.register(apiKeyRoutes, deps);
      await v1.register(connectionRoutes, deps);
      await v1.register(streamRoutes, deps);
      await v1.register(mappingRoutes, deps);
      await v1.register(validateRoutes, deps);
      await v1.register(jobRoutes, deps);
      await v1.register(auditRoutes, deps);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
