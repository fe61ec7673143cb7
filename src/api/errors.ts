/**
 * Every error leaves the API in the one envelope. Fastify's own errors (schema
 * validation, bad JSON, unknown route) are mapped onto catalogue codes; anything
 * else is a bug, logged with the request id and answered with INTERNAL.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SluiceError, isSluiceError, type ErrorCode } from '../errors';
import { NAME_PATTERN, NAME_RULE } from './schemas';
import { isStoreWriteFailure } from '../store/write-health';

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** The field an ajv error is about, as a dotted path ("options.mode"). */
function fieldOf(e: AjvError, context: string | undefined): string {
  const path = (e.instancePath ?? '').split('/').filter(Boolean);
  // A body chosen by a property (a connection's kind): the error is about that property.
  const extra = (e.params?.missingProperty ?? e.params?.additionalProperty ?? (e.keyword === 'discriminator' ? e.params?.tag : undefined)) as string | undefined;
  if (extra) path.push(extra);
  return path.length ? path.join('.') : (context ?? 'body');
}

export function fromValidation(err: FastifyError & { validation?: AjvError[]; validationContext?: string }): SluiceError {
  const first: AjvError = err.validation?.[0] ?? {};
  const where = err.validationContext ?? 'body';
  const field = fieldOf(first, where);
  let reason = first.message ?? 'is invalid';
  if (first.keyword === 'additionalProperties') reason = 'is not a known field';
  if (first.keyword === 'required') reason = 'is required';
  if (first.keyword === 'discriminator') reason = `must be one of the kinds listed in the schema (not ${JSON.stringify(first.params?.tagValue)})`;
  if (first.keyword === 'pattern' && first.params?.pattern === NAME_PATTERN) reason = `must be ${NAME_RULE}`;
  if (first.keyword === 'enum') reason = `must be one of ${(first.params?.allowedValues as unknown[] | undefined)?.join(', ')}`;
  return new SluiceError('VALIDATION_FAILED', `${where} field "${field}" ${reason}`, {
    location: where,
    field,
    rule: first.keyword,
    errors: (err.validation ?? []).slice(0, 10).map((e) => ({ field: fieldOf(e, where), rule: e.keyword, message: e.message })),
  });
}

function fromFastify(err: FastifyError): SluiceError | undefined {
  const status = err.statusCode ?? 500;
  if (status >= 500) return undefined;
  const code: ErrorCode =
    status === 413 ? 'PAYLOAD_TOO_LARGE'
    : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE'
    : status === 404 ? 'ROUTE_NOT_FOUND'
    : status === 429 ? 'AUTH_RATE_LIMITED'
    : err.code?.startsWith('FST_ERR_CTP') ? 'BODY_NOT_JSON'
    : 'VALIDATION_FAILED';
  return new SluiceError(code, err.message, { fastifyCode: err.code });
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    let e: SluiceError;
    if (isSluiceError(err)) e = err;
    else if ((err as { validation?: unknown }).validation) e = fromValidation(err);
    else if (isStoreWriteFailure(err)) e = new SluiceError('STATE_STORE_WRITE_FAILED', `the state store cannot be written (${err.code}: ${err.message})`, { sqliteCode: err.code });
    else e = fromFastify(err) ?? new SluiceError('INTERNAL', `Internal error (request ${req.id})`, { requestId: req.id });
    req.errorCode = e.code;
    if (e.code === 'AUTH_KEY_EXPIRED' && typeof e.detail.keyId === 'string') req.refusedKeyId = e.detail.keyId;
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: e.code, msg: e.message }, 'request rejected');
    if (typeof e.detail.retryAfterSeconds === 'number') void reply.header('retry-after', String(e.detail.retryAfterSeconds));
    void reply.status(e.status).send(e.toEnvelope());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new SluiceError('ROUTE_NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`, { method: req.method });
    void reply.status(404).send(e.toEnvelope());
  });
}
