/**
 * The broker's options: one schema, every option with its default and the reason for it.
 *
 * Validated once at start (load-config.ts) and then frozen. Names follow Kafka's topic configs,
 * with the unit at the end (`segmentBytes`, `retentionMs`). The CLI flag of an option is its
 * kebab-case name (`--segment-bytes`), the environment variable `STRATA_` + UPPER_SNAKE.
 */

import { availableParallelism } from 'node:os'
import type { Static } from 'typebox'
import { Type } from 'typebox'

const MiB = 1024 * 1024
const DAY_MS = 24 * 60 * 60 * 1000

interface OptionDoc {
  default: unknown
  description: string
}

/** Partition worker threads for a machine of `cores`: cores − 1 from 3 cores up, else none. */
export function defaultWorkers(cores: number): number {
  return cores >= 3 ? cores - 1 : 0
}

/** Option descriptions, shown by `strata serve --help`. Order is the order of the help text. */
export const optionDocs = {
  host: { default: '127.0.0.1', description: 'Address to listen on.' },
  port: { default: 8082, description: 'Port to listen on (0 picks a free one; the bound URL is printed).' },
  dataDir: { default: './segments', description: 'Where topics, segments and metadata live.' },
  logLevel: { default: 'info', description: 'fatal | error | warn | info | debug | trace | silent.' },
  workers: {
    // Measured (bench/workers/compare.mjs, bench/RESULTS.md "Workers" and "Latency (issue 13)"):
    // the HTTP thread needs a core of its own, and a worker pays off only with a core of its own
    // too. On 2 cores a worker thread bought no throughput (1–16 partitions, paired ratios
    // 0.76–1.02) and cost latency (a hop each way: produce acks=all p50 0.79 vs 0.59 ms) and CPU
    // (96 vs 76 µs per single-record request), so below 3 cores partitions stay in the main thread.
    default: defaultWorkers(availableParallelism()),
    description:
      'Partition worker threads (one single-thread pool each; default: cores − 1 from 3 cores up, the HTTP thread keeps one; 0 below 3 cores); 0 runs partitions in the main thread.',
  },
  flushIntervalMs: {
    default: 0,
    description:
      'Background fsync delay after a write for acks=0/1 (0 = as soon as possible, coalesced). acks=all always waits for its fsync.',
  },
  flushMessages: {
    default: 0,
    description: 'Also fsync once this many records are unflushed, whatever the interval (0 = off).',
  },
  segmentBytes: { default: 128 * MiB, description: 'Roll the active segment at this size.' },
  segmentMs: { default: 7 * DAY_MS, description: 'Roll the active segment at this age.' },
  retentionMs: {
    default: 7 * DAY_MS,
    description: 'Delete whole segments older than this (-1 = keep forever).',
  },
  retentionBytes: { default: -1, description: 'Keep at most this many bytes per partition (-1 = no limit).' },
  retentionCheckIntervalMs: { default: 60_000, description: 'How often retention runs.' },
  indexIntervalBytes: { default: 4096, description: 'Bytes of log between two sparse offset index entries.' },
  maxRequestBytes: { default: 16 * MiB, description: 'Largest request body accepted (413 past it).' },
  maxRecordBytes: {
    default: 1 * MiB,
    description: 'Largest single record (key + value + headers) accepted.',
  },
  maxRecordsPerRequest: { default: 10_000, description: 'Most records in one produce request.' },
  maxWaitMsLimit: { default: 30_000, description: 'Upper bound on a fetch long poll (maxWaitMs).' },
  maxFetchBytes: { default: 16 * MiB, description: 'Upper bound on the bytes one fetch returns.' },
  maxJsonFetchBytes: {
    // Rendering JSON is synchronous: 1 MiB holds other requests up for a few ms, while 16 MiB
    // held them for hundreds of ms and took ~65 MB of memory per fetch (bench/RESULTS.md, issue 11).
    // 1 MiB is also the default maxBytes, so a JSON reader that asks for nothing sees no change.
    default: 1 * MiB,
    description:
      'Upper bound on the record bytes one fetch returns to a JSON reader (MessagePack readers get up to --max-fetch-bytes).',
  },
  maxInflightFetchBytes: {
    default: 128 * MiB,
    description:
      'Fetch response bytes being read or sent at once, broker-wide; a fetch past it waits briefly, then gets 429 THROTTLED.',
  },
  requestTimeoutMs: {
    default: 60_000,
    description: 'A request must arrive whole within this time (stops slow-body clients holding sockets).',
  },
  ackTimeoutMs: {
    default: 30_000,
    description: 'How long acks=all waits for durability before ACK_TIMEOUT.',
  },
  shutdownTimeoutMs: {
    default: 15_000,
    description:
      'A clean shutdown (SIGTERM, SIGINT) still running after this long logs what it was waiting for and exits with code 1.',
  },
  defaultPartitions: { default: 1, description: 'Partitions of a topic created without a count.' },
  maxPartitionsPerTopic: {
    default: 1000,
    description: 'Most partitions one topic may have (400 INVALID_CONFIG past it).',
  },
  maxPartitions: {
    default: 0,
    description:
      'Most partitions this broker holds (409 PARTITION_LIMIT_REACHED past it); 0 = from the open-files limit, 3 fds per partition.',
  },
  memoryHighWatermark: {
    default: 0.4,
    description:
      'Produce answers 503 MEMORY_ALARM when the process uses more than this fraction of RAM (or bytes if > 1).',
  },
  diskFreeLimit: {
    default: 256 * MiB,
    description: 'Produce answers 503 DISK_ALARM when the data directory has fewer free bytes.',
  },
  maxInflightBytesPerPartition: {
    default: 64 * MiB,
    description: 'Produce bytes queued for one partition before producers get 429 THROTTLED.',
  },
  alarmCheckIntervalMs: { default: 1000, description: 'How often memory and disk alarms are evaluated.' },
  groupMinSessionTimeoutMs: {
    default: 1000,
    description: 'Smallest session timeout a group member may ask for.',
  },
  groupMaxSessionTimeoutMs: {
    default: 300_000,
    description: 'Largest session timeout a group member may ask for.',
  },
  maxGroupMembers: {
    // Kafka's group.max.size is unbounded by default; a bound keeps one group's rebalance and
    // descriptions small, and 1,000 consumers on one group is already past most deployments.
    default: 1000,
    description: 'Most members one consumer group may have (a join past it: 409 GROUP_MAX_SIZE_REACHED).',
  },
  brokerId: { default: 0, description: 'This broker’s id in a cluster.' },
  advertiseUrl: {
    default: '',
    description: 'URL other brokers and clients use to reach this one (cluster mode).',
  },
  etcd: { default: '', description: 'Comma-separated etcd URLs; empty runs a single broker without etcd.' },
  brokerLeaseMs: {
    default: 3000,
    description:
      'TTL of this broker’s etcd lease (whole seconds, at least 2 s): a broker silent this long is dead and loses its leaderships.',
  },
  replicaLagMaxMs: {
    default: 10_000,
    description: 'A follower that has not caught up with the leader for this long leaves the ISR.',
  },
  replicaFetchWaitMs: {
    default: 500,
    description: 'How long a follower’s fetch waits at the leader for new data (long poll).',
  },
  leaderRebalanceIntervalMs: {
    default: 30_000,
    description:
      'How often the controller moves leadership back to preferred replicas (first assigned, alive, in sync); it also checks on every cluster change (0 = only on demand).',
  },
  replicaFetchMaxBytes: { default: 4 * MiB, description: 'Upper bound on the bytes of one follower fetch.' },
  offsetsTopicReplicationFactor: {
    default: 3,
    description: 'Replication factor of __consumer_offsets in a cluster (at most the number of brokers).',
  },
  tlsCertFile: {
    default: '',
    description:
      'PEM certificate (chain) of the client listener; with --tls-key-file it serves https. Reloaded on SIGHUP and when the file changes.',
  },
  tlsKeyFile: { default: '', description: 'PEM private key of --tls-cert-file.' },
  tlsWatchIntervalMs: {
    default: 1000,
    description: 'How often the TLS files are checked for a change to reload (0 = only on SIGHUP).',
  },
  tlsCaFile: {
    default: '',
    description:
      'PEM CA bundle this broker trusts when it calls other brokers over https (default: the system CAs).',
  },
  tlsClientAuth: {
    default: 'none',
    description:
      'Client certificates: none | request (asked for; a valid one names the principal) | require (no valid certificate, no connection).',
  },
  tlsClientCaFile: {
    default: '',
    description: 'PEM CA bundle that client certificates must chain to (default: --tls-ca-file).',
  },
  auth: {
    default: false,
    description:
      'Require credentials (HTTP Basic, Bearer token, or a verified client certificate) on every route but /healthz and /readyz, and ACLs for each operation.',
  },
  adminPasswordFile: {
    default: '',
    description:
      'With --auth and no users yet: create superuser "admin" with the password in this file (or in STRATA_ADMIN_PASSWORD).',
  },
  adminPassword: {
    default: '',
    description:
      'The bootstrap admin password; give it as STRATA_ADMIN_PASSWORD, not as a flag (ps shows flags).',
  },
  interBrokerToken: {
    default: '',
    description:
      'Shared secret brokers present to each other (replica fetch); required with --auth and --etcd. Prefer STRATA_INTER_BROKER_TOKEN.',
  },
  metricsOpen: {
    default: false,
    description:
      'With --auth, serve GET /metrics without credentials (otherwise it needs describe on the cluster).',
  },
  insecure: {
    default: false,
    description:
      'Allow listening on a non-loopback address without --auth (anyone who reaches the port may do anything).',
  },
  config: { default: '', description: 'A JSON file of options (flags and STRATA_* variables override it).' },
} satisfies Record<string, OptionDoc>

const int = (minimum: number, maximum = Number.MAX_SAFE_INTEGER) => Type.Integer({ minimum, maximum })

export const BrokerConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: int(0, 65535),
    dataDir: Type.String({ minLength: 1 }),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    ),
    workers: int(0, 64),
    flushIntervalMs: int(0),
    flushMessages: int(0),
    segmentBytes: int(1024, 2 ** 31 - 1),
    segmentMs: int(1),
    retentionMs: int(-1),
    retentionBytes: int(-1),
    retentionCheckIntervalMs: int(10),
    indexIntervalBytes: int(1),
    maxRequestBytes: int(1024),
    maxRecordBytes: int(16),
    maxRecordsPerRequest: int(1),
    maxWaitMsLimit: int(0),
    maxFetchBytes: int(1024),
    maxJsonFetchBytes: int(1024),
    maxInflightFetchBytes: int(1024),
    requestTimeoutMs: int(0),
    ackTimeoutMs: int(1),
    shutdownTimeoutMs: int(100),
    defaultPartitions: int(1, 10_000),
    maxPartitionsPerTopic: int(1, 1_000_000),
    maxPartitions: int(0),
    memoryHighWatermark: Type.Number({ exclusiveMinimum: 0 }),
    diskFreeLimit: int(0),
    maxInflightBytesPerPartition: int(1024),
    alarmCheckIntervalMs: int(10),
    groupMinSessionTimeoutMs: int(1),
    groupMaxSessionTimeoutMs: int(1),
    maxGroupMembers: int(1),
    brokerId: int(0),
    advertiseUrl: Type.String(),
    etcd: Type.String(),
    brokerLeaseMs: int(2000, 60_000),
    replicaLagMaxMs: int(100),
    replicaFetchWaitMs: int(0, 30_000),
    leaderRebalanceIntervalMs: int(0),
    replicaFetchMaxBytes: int(1024),
    offsetsTopicReplicationFactor: int(1, 16),
    tlsCertFile: Type.String(),
    tlsKeyFile: Type.String(),
    tlsWatchIntervalMs: int(0, 3_600_000),
    tlsCaFile: Type.String(),
    tlsClientAuth: Type.Union(['none', 'request', 'require'].map((mode) => Type.Literal(mode))),
    tlsClientCaFile: Type.String(),
    auth: Type.Boolean(),
    adminPasswordFile: Type.String(),
    adminPassword: Type.String(),
    interBrokerToken: Type.String(),
    metricsOpen: Type.Boolean(),
    insecure: Type.Boolean(),
    config: Type.String(),
  },
  { additionalProperties: false },
)

export type BrokerConfig = Readonly<Static<typeof BrokerConfigSchema>>
export type OptionName = keyof typeof optionDocs

export function defaultConfig(): BrokerConfig {
  const out: Record<string, unknown> = {}
  for (const [name, doc] of Object.entries(optionDocs)) out[name] = doc.default
  return out as BrokerConfig
}
