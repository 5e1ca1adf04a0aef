/**
 * Errors the client raises on its own side of the wire.
 *
 * Everything the broker answers with is a `StrataError` from `src/errors.ts`, rebuilt from the
 * envelope by `errorFromEnvelope`. What is left are failures no broker could describe: the
 * connection was refused, cut or timed out, or the client was already closed. They carry a
 * `code` and a `retriable` flag of the same shape, so retry decisions and the CLI's exit codes read
 * one field whichever side the error came from. These codes never appear on the wire and so are
 * not part of the broker's table.
 */

export const ClientErrorCodes = {
  /** No answer from the broker: refused, reset, cut mid-request, or no response in time. */
  BROKER_UNREACHABLE: 'BROKER_UNREACHABLE',
  /** The producer, consumer or client was closed before the call. */
  CLIENT_CLOSED: 'CLIENT_CLOSED',
  /** The broker answered with something that is not the API's shape. */
  BAD_RESPONSE: 'BAD_RESPONSE',
} as const

export type ClientErrorCode = (typeof ClientErrorCodes)[keyof typeof ClientErrorCodes]

/**
 * A request got no answer. `maybeDelivered` says whether the broker may have acted on it: a
 * refused connection sent nothing, while a connection cut after the request was written (or a
 * response that never came) may hide a completed write. Only idempotent requests are retried
 * when `maybeDelivered` is true.
 */
export class BrokerUnreachableError extends Error {
  readonly code = ClientErrorCodes.BROKER_UNREACHABLE
  readonly retriable = true
  readonly url: string
  readonly maybeDelivered: boolean

  constructor(url: string, message: string, maybeDelivered: boolean, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'BrokerUnreachableError'
    this.url = url
    this.maybeDelivered = maybeDelivered
  }
}

/** Calls on a closed producer, consumer or client. A programming error: never retried. */
export class ClientClosedError extends Error {
  readonly code = ClientErrorCodes.CLIENT_CLOSED
  readonly retriable = false

  constructor(what: string) {
    super(`${what} is closed`)
    this.name = 'ClientClosedError'
  }
}

/** A response body the client cannot read (wrong content type, undecodable bytes). */
export class BadResponseError extends Error {
  readonly code = ClientErrorCodes.BAD_RESPONSE
  readonly retriable = false
  readonly statusCode: number

  constructor(message: string, statusCode: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'BadResponseError'
    this.statusCode = statusCode
  }
}
