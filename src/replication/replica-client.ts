/**
 * The follower's HTTP calls to a leader (routes/replica-fetch.ts): the long-polled fetch of raw
 * batches and the OffsetsForLeaderEpoch question. One keep-alive undici agent per broker process.
 *
 * Timeouts are bounded so that a leader that is paused (SIGSTOP) or cut off cannot hold a follower
 * forever: the fetch gives up `maxWaitMs + FETCH_GRACE_MS` after it was sent, and the fetcher asks
 * again (or, once the metadata named a new leader, is stopped and replaced).
 *
 * With TLS (the broker has `--tls-cert-file`), leaders are reached over https: their certificates
 * must chain to `--tls-ca-file` (or the system CAs), and this broker presents its own certificate
 * when the leader asks for one (`--tls-client-auth`). After the certificate files are reloaded a
 * new agent takes the new key pair; polls in flight finish on the old one.
 */
import { readFileSync } from 'node:fs'
import { Agent, request } from 'undici'
import type { BrokerConfig } from '../config/schema.js'
import { errorFromEnvelope, InternalError } from '../errors.js'
import type { EpochEndOffset } from '../storage/index.js'
import { wirePackr } from '../wire/record-codec.js'
import type { Durability } from '../workers/worker-messages.js'

/** Time on top of the long poll for the leader to read and send the batches. */
const FETCH_GRACE_MS = 5_000
const CONNECT_TIMEOUT_MS = 2_000

export const ReplicaHeaders = {
  highWatermark: 'strata-high-watermark',
  logStartOffset: 'strata-log-start-offset',
  logEndOffset: 'strata-log-end-offset',
  leaderEpoch: 'strata-leader-epoch',
} as const

export interface ReplicaFetchParams {
  offset: number
  replicaId: number
  leaderEpoch: number
  maxWaitMs: number
  maxBytes: number
}

export interface ReplicaFetchResponse {
  batches: Buffer
  highWatermark: number
  logStartOffset: number
  logEndOffset: number
}

export type ReplicaTlsConfig = Pick<BrokerConfig, 'tlsCertFile' | 'tlsKeyFile' | 'tlsCaFile'>

/** undici `connect` options for a call to another broker; none without TLS. */
function outboundTls(config: ReplicaTlsConfig): { ca?: Buffer; cert: Buffer; key: Buffer } | undefined {
  if (config.tlsCertFile === '' || config.tlsKeyFile === '') return undefined
  return {
    ...(config.tlsCaFile !== '' && { ca: readFileSync(config.tlsCaFile) }),
    cert: readFileSync(config.tlsCertFile),
    key: readFileSync(config.tlsKeyFile),
  }
}

function replicaAgent(config: ReplicaTlsConfig | undefined): Agent {
  return new Agent({
    connect: { timeout: CONNECT_TIMEOUT_MS, ...(config && outboundTls(config)) },
    keepAliveTimeout: 30_000,
    // No cap: each followed partition keeps one long poll parked on the leader, and a cap below the
    // partition count would make new data wait behind idle polls (the 8 offsets partitions alone).
  })
}

export class ReplicaClient {
  readonly #tls: ReplicaTlsConfig | undefined
  /** `Bearer <inter-broker token>` when brokers authenticate to each other (--auth). */
  readonly #credentials: Record<string, string>
  #agent: Agent

  constructor(tls?: ReplicaTlsConfig, interBrokerToken = '') {
    this.#tls = tls
    this.#credentials = interBrokerToken === '' ? {} : { authorization: `Bearer ${interBrokerToken}` }
    this.#agent = replicaAgent(tls)
  }

  /** Reads the key pair and CA again (after a certificate reload); throws and keeps the old on a bad file. */
  reloadTls(): void {
    const next = replicaAgent(this.#tls)
    const previous = this.#agent
    this.#agent = next
    previous.close().catch(() => undefined)
  }

  async fetch(
    leaderUrl: string,
    topic: string,
    partition: number,
    params: ReplicaFetchParams,
    signal: AbortSignal,
  ): Promise<ReplicaFetchResponse> {
    const query = new URLSearchParams({
      offset: String(params.offset),
      replicaId: String(params.replicaId),
      leaderEpoch: String(params.leaderEpoch),
      maxWaitMs: String(params.maxWaitMs),
      maxBytes: String(params.maxBytes),
    })
    const timeout = params.maxWaitMs + FETCH_GRACE_MS
    const res = await request(`${leaderUrl}${replicaPath(topic, partition)}?${query}`, {
      dispatcher: this.#agent,
      signal,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      headers: { accept: 'application/octet-stream, application/json', ...this.#credentials },
    })
    if (res.statusCode !== 200) throw await errorOf(res)
    const batches = Buffer.from(await res.body.arrayBuffer())
    return {
      batches,
      highWatermark: numberHeader(res.headers, ReplicaHeaders.highWatermark),
      logStartOffset: numberHeader(res.headers, ReplicaHeaders.logStartOffset),
      logEndOffset: numberHeader(res.headers, ReplicaHeaders.logEndOffset),
    }
  }

  async epochEnd(
    leaderUrl: string,
    topic: string,
    partition: number,
    params: { epoch: number; replicaId: number; leaderEpoch: number },
    signal: AbortSignal,
  ): Promise<EpochEndOffset> {
    const query = new URLSearchParams({
      replicaId: String(params.replicaId),
      leaderEpoch: String(params.leaderEpoch),
    })
    const res = await request(
      `${leaderUrl}${replicaPath(topic, partition)}/epochs/${params.epoch}?${query}`,
      {
        dispatcher: this.#agent,
        signal,
        headersTimeout: FETCH_GRACE_MS,
        bodyTimeout: FETCH_GRACE_MS,
        headers: { accept: 'application/json', ...this.#credentials },
      },
    )
    if (res.statusCode !== 200) throw await errorOf(res)
    const body = (await res.body.json()) as Partial<EpochEndOffset>
    if (typeof body.epoch !== 'number' || typeof body.endOffset !== 'number') {
      throw new InternalError('malformed epoch end answer from the leader', { body })
    }
    return { epoch: body.epoch, endOffset: body.endOffset }
  }

  /**
   * A produce to one partition on its leader, for a publish that another broker received and
   * routed (cluster/leader-writer.ts). The records go as MessagePack, so bytes stay bytes.
   */
  async produce(
    leaderUrl: string,
    topic: string,
    partition: number,
    body: { records: Array<Record<string, unknown>>; acks: 0 | 1 | 'all' },
    timeoutMs: number,
  ): Promise<{ offsets: Array<{ partition: number; offset: number }>; durability: Durability }> {
    const res = await request(
      `${leaderUrl}/v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/records`,
      {
        method: 'POST',
        dispatcher: this.#agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        headers: {
          'content-type': 'application/vnd.msgpack',
          accept: 'application/json',
          ...this.#credentials,
        },
        body: wirePackr.pack(body),
      },
    )
    if (res.statusCode !== 200 && res.statusCode !== 202) throw await errorOf(res)
    return (await res.body.json()) as {
      offsets: Array<{ partition: number; offset: number }>
      durability: Durability
    }
  }

  /** Asks a leader to hand the partition to its preferred replica (preferred-leader election). */
  async handToPreferred(
    leaderUrl: string,
    topic: string,
    partition: number,
    leaderEpoch: number,
  ): Promise<{ moved: boolean; reason?: string }> {
    const query = new URLSearchParams({ leaderEpoch: String(leaderEpoch) })
    const res = await request(`${leaderUrl}${replicaPath(topic, partition)}/preferred-leader?${query}`, {
      method: 'POST',
      dispatcher: this.#agent,
      // The leader waits up to 5 s for its followers before it hands over.
      headersTimeout: 2 * FETCH_GRACE_MS,
      bodyTimeout: 2 * FETCH_GRACE_MS,
      headers: { accept: 'application/json', ...this.#credentials },
    })
    if (res.statusCode !== 200) throw await errorOf(res)
    const body = (await res.body.json()) as { moved?: unknown; reason?: unknown }
    if (typeof body.moved !== 'boolean') {
      throw new InternalError('malformed preferred-leader answer from the leader', { body })
    }
    return { moved: body.moved, ...(typeof body.reason === 'string' && { reason: body.reason }) }
  }

  /**
   * The public partition fetch (`GET /v1/topics/:t/partitions/:p/records`) in MessagePack, as this
   * broker: a group coordinator reads the partitions it holds no replica of from their leaders.
   * The answer is the leader's `{records, nextOffset, highWatermark, logStartOffset}` body, as is.
   */
  async fetchRecords(
    leaderUrl: string,
    topic: string,
    partition: number,
    params: { offset: number; maxRecords: number; maxBytes: number; maxWaitMs: number },
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const query = new URLSearchParams({
      offset: String(params.offset),
      maxRecords: String(params.maxRecords),
      maxBytes: String(params.maxBytes),
      maxWaitMs: String(params.maxWaitMs),
    })
    const timeout = params.maxWaitMs + FETCH_GRACE_MS
    const path = `/v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/records`
    const res = await request(`${leaderUrl}${path}?${query}`, {
      dispatcher: this.#agent,
      ...(signal && { signal }),
      headersTimeout: timeout,
      bodyTimeout: timeout,
      headers: { accept: 'application/vnd.msgpack, application/json', ...this.#credentials },
    })
    if (res.statusCode !== 200) throw await errorOf(res)
    return Buffer.from(await res.body.arrayBuffer())
  }

  /** The public offset lookup (`GET …/offsets?at=`) at the leader: earliest, latest or by time. */
  async listOffset(
    leaderUrl: string,
    topic: string,
    partition: number,
    at: 'earliest' | 'latest' | number,
  ): Promise<number> {
    const path = `/v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/offsets`
    const res = await request(`${leaderUrl}${path}?at=${at}`, {
      dispatcher: this.#agent,
      headersTimeout: FETCH_GRACE_MS,
      bodyTimeout: FETCH_GRACE_MS,
      headers: { accept: 'application/json', ...this.#credentials },
    })
    if (res.statusCode !== 200) throw await errorOf(res)
    const body = (await res.body.json()) as { offset?: unknown }
    if (typeof body.offset !== 'number')
      throw new InternalError('malformed offset answer from the leader', { body })
    return body.offset
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}

export function replicaPath(topic: string, partition: number): string {
  return `/v1/replication/${encodeURIComponent(topic)}/${partition}`
}

function numberHeader(headers: Record<string, string | string[] | undefined>, name: string): number {
  const value = Number(headers[name])
  if (!Number.isSafeInteger(value)) throw new InternalError(`leader answered without a valid ${name}`)
  return value
}

async function errorOf(res: Awaited<ReturnType<typeof request>>): Promise<Error> {
  const text = await res.body.text()
  let envelope: unknown
  try {
    envelope = JSON.parse(text)
  } catch {
    envelope = { error: { code: 'INTERNAL', message: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` } }
  }
  return errorFromEnvelope(envelope, res.statusCode)
}
