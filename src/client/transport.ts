/**
 * How the client reaches a broker: one request in, one decoded body or one typed error out.
 *
 * The client core speaks only to the `Transport` interface (as nats.js's core does), so tests can
 * put a fake underneath and a later transport (HTTP/2, in-process) slots in without touching the
 * producer or consumer. `HttpTransport` keeps one undici `Pool` per broker origin: a few long-lived
 * keep-alive connections that every producer, consumer and admin call on that client shares, which
 * is what a channel is to AMQP. A pool opens connections on demand up to `connectionsPerServer`;
 * the bound is generous because a long-polling fetch holds its connection for up to `maxWaitMs`,
 * and a produce must never queue behind a dozen idle long polls. Besides the pool, a request may
 * name a `lane`: a producer's pipelined requests to one partition then share one connection, so
 * they reach the broker in the order they were sent (several pooled connections would not).
 *
 * Failures come out in two kinds only: a `StrataError` rebuilt from the broker's envelope (with the
 * `Retry-After` hint remembered for the retry loop), or a `BrokerUnreachableError` that says whether
 * the request may have reached the broker. Everything else (an aborted signal, a closed pool) is
 * passed through untouched, so programming errors are never mistaken for network trouble.
 */
import { Client, Pool } from 'undici'
import { errorFromEnvelope } from '../errors.js'
import { BadResponseError, BrokerUnreachableError, ClientClosedError } from './client-errors.js'
import { rememberRetryAfter } from './retry.js'
import { isTlsFailureCode, TlsHandshakeError } from './tls-errors.js'
import { ContentTypes, decodeBody, type Encoding, Encodings, encodeBody } from './wire-codec.js'

export const HttpMethods = {
  GET: 'GET',
  POST: 'POST',
  PUT: 'PUT',
  DELETE: 'DELETE',
} as const

export type HttpMethod = (typeof HttpMethods)[keyof typeof HttpMethods]

export interface TransportRequest {
  method: HttpMethod
  /** Path below the server URL, starting with `/`, segments already encoded. */
  path: string
  query?: Record<string, string | number | boolean | undefined>
  /** Encoded with the transport's encoding; `undefined` sends no body. */
  body?: unknown
  /** The whole exchange must finish within this many milliseconds. */
  timeoutMs?: number
  signal?: AbortSignal
  /**
   * Requests of one lane to one server travel over one connection, pipelined, in the order they
   * were made, so the broker sees them in that order. Only for requests that are safe to send
   * again: after a cut connection the ones queued behind the first may be resent as they were.
   */
  lane?: string
}

export interface TransportResponse<T = unknown> {
  statusCode: number
  body: T
}

export interface Transport {
  /** Sends one request to `serverUrl`; rejects with a `StrataError` or `BrokerUnreachableError`. */
  request<T = unknown>(serverUrl: string, request: TransportRequest): Promise<TransportResponse<T>>
  close(): Promise<void>
}

export interface HttpTransportOptions {
  /** Body encoding for requests and the `Accept` header. Default `msgpack`. */
  encoding?: Encoding
  /** Upper bound on keep-alive connections per broker. Default 64 (see the module comment). */
  connectionsPerServer?: number
  /** How long an idle connection stays open. Default 30 s, below fastify's 72 s server side. */
  keepAliveTimeoutMs?: number
  /** A broker that does not accept a TCP connection in this time counts as down. Default 3 s. */
  connectTimeoutMs?: number
  /** Default whole-request timeout when a request names none. Default 30 s. */
  requestTimeoutMs?: number
  /** For `https://` brokers: whom to trust and which certificate to present (mutual TLS). */
  tls?: ClientTlsOptions
  /** The `Authorization` header sent with every request (see `authorizationHeader`). */
  authorization?: string
}

/**
 * TLS of the connections to `https://` brokers (node:tls connect options). PEM strings or buffers.
 * Without `ca` the system's CAs are trusted; `rejectUnauthorized: false` accepts any certificate
 * (testing only: it also accepts an attacker's).
 */
export interface ClientTlsOptions {
  /** CA certificate(s) the brokers' certificates must chain to. */
  ca?: string | Buffer | Array<string | Buffer>
  /** Client certificate chain, for brokers that ask for one (`--tls-client-auth`). */
  cert?: string | Buffer
  /** The private key of `cert`. */
  key?: string | Buffer
  /** Default true. */
  rejectUnauthorized?: boolean
  /** Name to check the certificate against when it differs from the URL's host. */
  servername?: string
}

/** `Bearer <token>` or `Basic <user:password>`; undefined without credentials. */
export function authorizationHeader(credentials: {
  token?: string | undefined
  username?: string | undefined
  password?: string | undefined
}): string | undefined {
  if (credentials.token) return `Bearer ${credentials.token}`
  if (credentials.username !== undefined) {
    return `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ''}`).toString('base64')}`
  }
  return undefined
}

const DEFAULT_CONNECTIONS_PER_SERVER = 64
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 30_000
const DEFAULT_CONNECT_TIMEOUT_MS = 3_000
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
const BACKSTOP_MS = 5_000
// Lanes share a few ordered connections per broker (a lane always maps to the same one), so a
// producer writing many partitions does not open a connection per partition.
const ORDERED_CONNECTIONS_PER_SERVER = 4
const ORDERED_PIPELINING = 16

// Socket errors raised before a byte of the request left this process: safe to send elsewhere.
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
])

// The request may have been written and acted on; only an idempotent request is safe to repeat.
const MAYBE_SENT_CODES = new Set([
  'UND_ERR_SOCKET',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
])

export class HttpTransport implements Transport {
  readonly encoding: Encoding
  readonly #pools = new Map<string, Pool>()
  /** `origin` + slot → the ordered connection of the lanes that hash to that slot. */
  readonly #ordered = new Map<string, Client>()
  readonly #options: Required<Omit<HttpTransportOptions, 'tls' | 'authorization'>>
  readonly #tls: ClientTlsOptions | undefined
  readonly #authorization: string | undefined
  #closed = false

  constructor(options: HttpTransportOptions = {}) {
    this.#options = {
      encoding: options.encoding ?? Encodings.MSGPACK,
      connectionsPerServer: options.connectionsPerServer ?? DEFAULT_CONNECTIONS_PER_SERVER,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    }
    this.#tls = options.tls
    this.encoding = this.#options.encoding
    this.#authorization = options.authorization
  }

  async request<T = unknown>(serverUrl: string, request: TransportRequest): Promise<TransportResponse<T>> {
    if (this.#closed) throw new ClientClosedError('transport')
    const base = new URL(serverUrl)
    const pool = request.lane === undefined ? this.#pool(base.origin) : undefined
    const timeoutMs = request.timeoutMs ?? this.#options.requestTimeoutMs
    const contentType = ContentTypes[this.encoding]
    const headers: Record<string, string> = { accept: `${contentType}, application/json;q=0.5` }
    if (this.#authorization !== undefined) headers.authorization = this.#authorization
    let payload: Buffer | undefined
    if (request.body !== undefined) {
      payload = encodeBody(this.encoding, request.body)
      headers['content-type'] = contentType
    }
    // undici's own timeouts tick at up to a second's resolution; this one is exact and covers
    // the whole exchange. Theirs stay as a backstop.
    const deadline = new Deadline(timeoutMs, request.signal)
    let response: Awaited<ReturnType<Pool['request']>>
    let bytes: Buffer
    try {
      const dispatcher = pool ?? this.#orderedClient(base.origin, request.lane as string)
      response = await dispatcher.request({
        method: request.method,
        path: joinPath(base.pathname, request.path, request.query),
        headers,
        body: payload ?? null,
        headersTimeout: timeoutMs + BACKSTOP_MS,
        bodyTimeout: timeoutMs + BACKSTOP_MS,
        signal: deadline.signal,
        // undici pipelines a request only when told it is safe to repeat and quick to answer.
        ...(request.lane !== undefined && { idempotent: true, blocking: false }),
      })
      bytes = Buffer.from(await response.body.arrayBuffer())
    } catch (err) {
      if (deadline.expired) {
        throw new BrokerUnreachableError(
          serverUrl,
          `no answer from ${serverUrl} within ${timeoutMs} ms`,
          true,
          {
            cause: err,
          },
        )
      }
      throw this.#connectionError(serverUrl, err)
    } finally {
      deadline.clear()
    }
    const header = response.headers['content-type']
    let body: unknown
    try {
      body = decodeBody(Array.isArray(header) ? header[0] : header, bytes)
    } catch (err) {
      throw new BadResponseError(
        `undecodable ${response.statusCode} response from ${serverUrl}`,
        response.statusCode,
        {
          cause: err,
        },
      )
    }
    if (response.statusCode >= 400) {
      const error = errorFromEnvelope(body, response.statusCode)
      rememberRetryAfter(error, parseRetryAfter(response.headers['retry-after']))
      throw error
    }
    return { statusCode: response.statusCode, body: body as T }
  }

  async close(): Promise<void> {
    this.#closed = true
    const pools: Array<Pool | Client> = [...this.#pools.values(), ...this.#ordered.values()]
    this.#pools.clear()
    this.#ordered.clear()
    // `destroy` rather than `close`: a long poll in flight would otherwise hold close for maxWaitMs.
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)))
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin)
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.#options.connectionsPerServer,
        keepAliveTimeout: this.#options.keepAliveTimeoutMs,
        connectTimeout: this.#options.connectTimeoutMs,
        ...(this.#tls && { connect: { ...this.#tls } }),
        pipelining: 1,
      })
      this.#pools.set(origin, pool)
    }
    return pool
  }

  #orderedClient(origin: string, lane: string): Client {
    const key = `${origin}\u0000${laneSlot(lane)}`
    let client = this.#ordered.get(key)
    if (!client) {
      client = new Client(origin, {
        keepAliveTimeout: this.#options.keepAliveTimeoutMs,
        connectTimeout: this.#options.connectTimeoutMs,
        ...(this.#tls && { connect: { ...this.#tls } }),
        pipelining: ORDERED_PIPELINING,
      })
      this.#ordered.set(key, client)
    }
    return client
  }

  #connectionError(serverUrl: string, err: unknown): unknown {
    const code = socketErrorCode(err)
    if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') {
      return this.#closed ? new ClientClosedError('transport') : err
    }
    if (code !== undefined && isTlsFailureCode(code)) {
      return new TlsHandshakeError(serverUrl, code, (err as Error).message, { cause: err })
    }
    if (code !== undefined && NOT_SENT_CODES.has(code)) {
      return new BrokerUnreachableError(serverUrl, `cannot connect to ${serverUrl} (${code})`, false, {
        cause: err,
      })
    }
    if (code !== undefined && MAYBE_SENT_CODES.has(code)) {
      return new BrokerUnreachableError(serverUrl, `no answer from ${serverUrl} (${code})`, true, {
        cause: err,
      })
    }
    return err
  }
}

/** An abort signal that fires after `ms` or when the caller's signal does, whichever is first. */
class Deadline {
  readonly #controller = new AbortController()
  readonly #timer: NodeJS.Timeout
  readonly #parent: AbortSignal | undefined
  readonly #onParentAbort = () => this.#controller.abort(this.#parent?.reason)
  expired = false

  constructor(ms: number, parent: AbortSignal | undefined) {
    this.#parent = parent
    this.#timer = setTimeout(() => {
      this.expired = true
      this.#controller.abort(new Error(`timed out after ${ms} ms`))
    }, ms)
    if (parent?.aborted) this.#onParentAbort()
    else parent?.addEventListener('abort', this.#onParentAbort, { once: true })
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  clear(): void {
    clearTimeout(this.#timer)
    this.#parent?.removeEventListener('abort', this.#onParentAbort)
  }
}

function laneSlot(lane: string): number {
  let hash = 0
  for (let i = 0; i < lane.length; i++) hash = (Math.imul(hash, 31) + lane.charCodeAt(i)) | 0
  return (hash >>> 0) % ORDERED_CONNECTIONS_PER_SERVER
}

/** The error code of a socket failure; Node reports a refused dual-stack connect as an AggregateError. */
function socketErrorCode(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') return code
  const first = (err as { errors?: unknown[] }).errors?.[0]
  return first === undefined ? undefined : socketErrorCode(first)
}

function joinPath(prefix: string, path: string, query: TransportRequest['query']): string {
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  let out = `${base}${path}`
  if (query) {
    const params = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v))
    const qs = params.toString()
    if (qs) out += `?${qs}`
  }
  return out
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || value === '') return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
