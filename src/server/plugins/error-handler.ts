/**
 * One error handler renders every failure as API.md's envelope
 * `{ error: { code, message, details? } }`, in the negotiated encoding, with its status, and a
 * `Retry-After` header for backpressure codes. Fastify's own errors (validation, body too large,
 * bad media type, bad JSON) are mapped onto our stable codes here and nowhere else.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import {
  ErrorCodes,
  InternalError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  RequestTimeoutError,
  StrataError,
  UnsupportedMediaTypeError,
} from '../../errors.js'
import { encodeBody, prefersMsgpack } from './msgpack-codec.js'

const RETRY_AFTER_CODES = new Set([
  'THROTTLED',
  'MEMORY_ALARM',
  'DISK_ALARM',
  'NOT_READY',
  'NOT_ENOUGH_REPLICAS',
  'WORKER_FAILED',
])

/** Maps anything thrown in a request to a StrataError. */
export function toStrataError(err: unknown): StrataError {
  if (err instanceof StrataError) return err
  const fe = err as FastifyError & {
    validation?: Array<{ instancePath: string; message?: string; params?: unknown }>
  }
  if (fe?.validation) {
    const first = fe.validation[0]
    const where = `${fe.validationContext ?? 'body'}${first?.instancePath ?? ''}`
    const extra = (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty
    const message = `${where} ${first?.message ?? 'is invalid'}${extra ? ` ("${extra}")` : ''}`
    return new InvalidRequestError(message, {
      field: where,
      problems: fe.validation.map((v) => `${v.instancePath} ${v.message}`),
    })
  }
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError('request body is larger than --max-request-bytes', { cause: fe })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError('send application/vnd.msgpack or application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidRequestError(`body is not valid: ${fe.message}`)
    case 'FST_ERR_REQUEST_TIMEOUT':
      return new RequestTimeoutError('the request did not arrive in time')
  }
  if (err instanceof SyntaxError) return new InvalidRequestError(`body is not valid JSON: ${err.message}`)
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return new InvalidRequestError('body nesting is too deep')
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new InvalidRequestError(fe.message)
  }
  return new InternalError('internal error', undefined, { cause: err })
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const error = toStrataError(err)
  if (error.code === 'INTERNAL') request.log.error({ err: error.cause ?? err }, 'request failed')
  if (RETRY_AFTER_CODES.has(error.code)) {
    const ms = Number((error.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs ?? 1000)
    reply.header('retry-after', String(Math.max(1, Math.ceil(ms / 1000))))
  }
  const { type, body } = encodeBody(prefersMsgpack(request), error.toEnvelope())
  return reply.code(ErrorCodes[error.code].status).type(type).send(body)
}

export const errorHandler = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((err, request, reply) => sendError(request, reply, err))
    app.setNotFoundHandler((request, reply) =>
      sendError(request, reply, new NotFoundError(`no route ${request.method} ${request.url}`)),
    )
  },
  { name: 'strata-error-handler' },
)
