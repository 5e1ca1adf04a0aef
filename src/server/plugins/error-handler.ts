/**
 * One error handler renders every failure in the envelope of docs/http-api.md ("Errors")
 * `{ error: { code, message, details? } }`, in the negotiated encoding, with its status, and a
 * `Retry-After` header for backpressure codes. Fastify's own errors (validation, body too large,
 * bad media type, bad JSON) are mapped onto our stable codes here and nowhere else.
 *
 * Some answers never reach the route error handler, and fastify or node would write their own body:
 * a URL that does not decode or whose parameter is over `maxParamLength` (fastify's
 * `frameworkErrors`), a request line or headers over node's `maxHeaderSize`, a malformed request or
 * a client timeout (the socket's `clientError`), and requests arriving while the server closes
 * (fastify's `return503OnClosing`, replaced by the NOT_READY answer below). Each is answered with
 * the envelope too; docs/http-api.md lists every code.
 */
import { maxHeaderSize } from 'node:http'
import type { Socket } from 'node:net'
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import {
  ErrorCodes,
  InternalError,
  InvalidRequestError,
  InvalidTopicNameError,
  NotFoundError,
  NotReadyError,
  PayloadTooLargeError,
  RequestTimeoutError,
  StrataError,
  UnsupportedMediaTypeError,
  UriTooLongError,
} from '../../errors.js'
import { encodeBody, prefersMsgpack } from './msgpack-codec.js'

/** Codes whose answer carries `Retry-After` (docs/http-api.md says so for exactly these). */
export const RETRY_AFTER_CODES: ReadonlySet<string> = new Set([
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
    validation?: Array<{
      instancePath: string
      keyword?: string
      message?: string
      params?: unknown
      parentSchema?: { nameRule?: string }
    }>
  }
  if (fe?.validation) {
    const first = fe.validation[0]
    const where = `${fe.validationContext ?? 'body'}${first?.instancePath ?? ''}`
    // A string that breaks the name rule; a value of another type is a plain INVALID_REQUEST.
    if (first?.parentSchema?.nameRule === 'topic' && first.keyword !== 'type') {
      return new InvalidTopicNameError(
        `${where} is not a topic name: it must match [A-Za-z0-9._-]{1,249} and not be "." or ".."`,
        { field: where },
      )
    }
    const extra = (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty
    const message = `${where} ${first?.message ?? 'is invalid'}${extra ? ` ("${extra}")` : ''}`
    return new InvalidRequestError(message, {
      field: where,
      problems: fe.validation.map((v) => `${v.instancePath} ${v.message}`),
    })
  }
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError('request body is larger than --max-request-bytes', undefined, {
        cause: fe,
      })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError('send application/vnd.msgpack or application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidRequestError(`body is not valid: ${fe.message}`)
    case 'FST_ERR_REQUEST_TIMEOUT':
      return new RequestTimeoutError('the request did not arrive in time')
    case 'FST_ERR_BAD_URL':
      return new InvalidRequestError(`the URL does not decode: ${fe.message}`)
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new UriTooLongError(`a path segment is longer than ${MAX_PARAM_LENGTH} characters`)
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

/**
 * The longest path parameter the router accepts: topic, group and exchange names are at most 249
 * characters (and need no escaping), so a longer one is never a name: 414. Shorter invalid names
 * reach the schemas and get INVALID_TOPIC_NAME / INVALID_REQUEST.
 */
export const MAX_PARAM_LENGTH = 1024

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

/** Fastify's `frameworkErrors`: bad URLs and over-long path parameters, before any route runs. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  sendError(request, reply, error)
}

/**
 * A request node could not parse: the socket is all there is, so the answer is written by hand
 * (JSON: no content type was negotiated) and the socket destroyed, as node itself does.
 */
export function clientErrorHandler(err: ConnectionError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  // Once part of a response went out, raw bytes would corrupt it: then the socket just closes.
  if (socket.writable && socket.bytesWritten === 0) {
    const error = clientErrorToStrata(err)
    const body = JSON.stringify(error.toEnvelope())
    const status = ErrorCodes[error.code].status
    socket.write(
      `HTTP/1.1 ${status} ${statusText(status)}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

function statusText(status: number): string {
  return status === 414 ? 'URI Too Long' : status === 408 ? 'Request Timeout' : 'Bad Request'
}

function clientErrorToStrata(err: ConnectionError): StrataError {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return new RequestTimeoutError('the request did not arrive in time')
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // Node limits the request line and headers together (--max-http-header-size). The packet that
    // overflowed tells which was to blame when it holds the request line: a line over half the
    // limit is a URL too long; otherwise the headers are.
    // (fastify's typings describe rawPacket as JSON; node hands over the Buffer itself.)
    const raw: unknown = err.rawPacket
    const packet = Buffer.isBuffer(raw) ? raw.toString('latin1', 0, maxHeaderSize + 1024) : ''
    const lineEnd = packet.indexOf('\r\n')
    const requestLine = lineEnd === -1 ? packet : packet.slice(0, lineEnd)
    const limit = `${Math.round(maxHeaderSize / 1024)} KiB`
    if (/^[A-Z]+ /.test(requestLine) && requestLine.length > maxHeaderSize / 2) {
      return new UriTooLongError(`the URL is too long: the request line and headers may take ${limit}`)
    }
    return new InvalidRequestError(
      `the request headers are too large: the request line and headers may take ${limit}`,
    )
  }
  return new InvalidRequestError(`the request is not valid HTTP/1.1 (${err.code ?? err.message})`)
}

export const errorHandler = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((err, request, reply) => sendError(request, reply, err))
    app.setNotFoundHandler((request, reply) =>
      sendError(request, reply, new NotFoundError(`no route ${request.method} ${request.url}`)),
    )
    // Requests that still arrive on open connections while the server closes (pipelined, or on a
    // busy keep-alive socket) are refused before any hook or route runs: another broker can take them.
    let closing = false
    app.addHook('preClose', async () => {
      closing = true
    })
    app.addHook('onRequest', (_request, reply, done) => {
      if (!closing) return done()
      reply.header('connection', 'close')
      done(new NotReadyError('the broker is shutting down; retry on another broker'))
    })
  },
  { name: 'strata-error-handler' },
)
