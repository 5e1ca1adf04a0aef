/**
 * Backpressure, RabbitMQ style: resource alarms that block producers, and a bound on the produce
 * bytes in flight per partition.
 *
 * - Memory alarm: the process's resident set (RSS, worker threads included: they share the
 *   process) above `memoryHighWatermark` — a fraction of RAM when <= 1 (RabbitMQ's
 *   vm_memory_high_watermark, default 0.4), else a number of bytes.
 * - Disk alarm: free space of the data directory's filesystem (statfs, blocks available to an
 *   unprivileged user) below `diskFreeLimit` bytes.
 * Both are evaluated every `alarmCheckIntervalMs` in the main thread. While one is set, produce is
 * refused with 503 MEMORY_ALARM / DISK_ALARM and Retry-After; fetch, offsets, commits and topic
 * administration keep working; producing resumes by itself once the next check finds the resource
 * back under its limit. Internal topics (`__*`, e.g. committed group offsets) are exempt, as
 * RabbitMQ blocks only publishers: blocking offset commits would stall consumers, the only thing
 * that frees a broker under pressure.
 *
 * - In-flight bytes: produce bytes sent to a partition's owner and not yet answered. Past
 *   `maxInflightBytesPerPartition`, producers get 429 THROTTLED, so a slow disk (fsync taking
 *   seconds) throttles producers instead of growing memory. One batch is always admitted when a
 *   partition has nothing in flight, or a batch larger than the bound could never be written.
 *
 * The checks run in the broker's produce admission, before any batch is sent to any partition
 * owner, so a refused request writes nothing (never part of a multi-partition request).
 */
import { readFileSync } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { totalmem } from 'node:os'
import { DiskAlarmError, MemoryAlarmError, ThrottledError } from '../errors.js'
import { partitionKey } from '../workers/partition-host.js'
import type { HostRequest, HostResponses } from '../workers/worker-messages.js'
import type { PartitionRouter } from '../workers/worker-router.js'
import type { ProduceAdmission } from './broker.js'

export const AlarmKinds = { memory: 'memory', disk: 'disk' } as const
export type AlarmKind = (typeof AlarmKinds)[keyof typeof AlarmKinds]

/** Retry-After for THROTTLED: in-flight appends finish within a few fsyncs. */
const THROTTLED_RETRY_MS = 1000

/** Where the alarms read the resources; injectable so tests can drive them. */
export interface AlarmProbes {
  rssBytes(): number
  totalMemoryBytes(): number
  /** Bytes free for unprivileged writes on the filesystem holding `dir`. */
  freeDiskBytes(dir: string): Promise<number>
}

export const systemProbes: AlarmProbes = {
  rssBytes: () => process.memoryUsage.rss(),
  totalMemoryBytes: () => totalmem(),
  async freeDiskBytes(dir) {
    const s = await statfs(dir)
    return s.bavail * s.bsize
  },
}

/**
 * Test hooks for broker processes, honoured only with STRATA_TEST_HOOKS=1:
 * STRATA_TEST_DISK_FREE_FILE names a file holding the free bytes to report (re-read at every
 * check, so a test can raise and clear the disk alarm while the broker runs).
 */
export function testProbesFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<AlarmProbes> {
  if (env.STRATA_TEST_HOOKS !== '1') return {}
  const probes: Partial<AlarmProbes> = {}
  const diskFile = env.STRATA_TEST_DISK_FREE_FILE
  if (diskFile) probes.freeDiskBytes = async () => Number(readFileSync(diskFile, 'utf8').trim())
  return probes
}

/** The memory limit in bytes: a fraction of RAM when the watermark is <= 1, else bytes. */
export function memoryLimitBytes(watermark: number, totalMemoryBytes: number): number {
  return watermark <= 1 ? Math.floor(watermark * totalMemoryBytes) : Math.floor(watermark)
}

export interface AlarmOptions {
  dataDir: string
  memoryHighWatermark: number
  diskFreeLimit: number
  alarmCheckIntervalMs: number
}

export interface AlarmStatus {
  memory: { active: boolean; rssBytes: number; limitBytes: number }
  disk: { active: boolean; freeBytes: number; limitBytes: number }
}

export type AlarmListener = (kind: AlarmKind, active: boolean, status: AlarmStatus) => void

export class ResourceAlarms {
  readonly #opts: AlarmOptions
  readonly #probes: AlarmProbes
  readonly #listeners: AlarmListener[] = []
  readonly #status: AlarmStatus
  #timer: NodeJS.Timeout | undefined
  #checking: Promise<void> | undefined
  /** Produce requests refused, by alarm, since start. */
  readonly refused: Record<AlarmKind, number> = { memory: 0, disk: 0 }

  constructor(opts: AlarmOptions, probes: Partial<AlarmProbes> = {}) {
    this.#opts = opts
    this.#probes = { ...systemProbes, ...probes }
    this.#status = {
      memory: {
        active: false,
        rssBytes: 0,
        limitBytes: memoryLimitBytes(opts.memoryHighWatermark, this.#probes.totalMemoryBytes()),
      },
      disk: { active: false, freeBytes: Number.NaN, limitBytes: opts.diskFreeLimit },
    }
  }

  onChange(listener: AlarmListener): void {
    this.#listeners.push(listener)
  }

  /** Checks once now (so a broker starting past a limit refuses its first write), then every interval. */
  async start(): Promise<void> {
    await this.check()
    this.#timer = setInterval(() => {
      this.check().catch(() => {})
    }, this.#opts.alarmCheckIntervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  status(): AlarmStatus {
    return { memory: { ...this.#status.memory }, disk: { ...this.#status.disk } }
  }

  get active(): boolean {
    return this.#status.memory.active || this.#status.disk.active
  }

  /** Re-reads both resources; overlapping calls share one check. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined
    })
    return this.#checking
  }

  async #check(): Promise<void> {
    const memory = this.#status.memory
    memory.rssBytes = this.#probes.rssBytes()
    this.#set('memory', memory.rssBytes > memory.limitBytes)
    const disk = this.#status.disk
    try {
      disk.freeBytes = await this.#probes.freeDiskBytes(this.#opts.dataDir)
    } catch {
      // An unreadable data dir is reported by the writes themselves; keep the alarm as it was.
      return
    }
    if (Number.isFinite(disk.freeBytes)) this.#set('disk', disk.freeBytes < disk.limitBytes)
  }

  #set(kind: AlarmKind, active: boolean): void {
    if (this.#status[kind].active === active) return
    this.#status[kind].active = active
    const status = this.status()
    for (const listener of this.#listeners) listener(kind, active, status)
  }

  /** Why writes are refused right now (for /readyz). */
  reasons(): string[] {
    const out: string[] = []
    const { memory, disk } = this.#status
    if (memory.active) {
      out.push(
        `memory alarm: resident set ${memory.rssBytes} bytes is above the high watermark ${memory.limitBytes}`,
      )
    }
    if (disk.active)
      out.push(`disk alarm: ${disk.freeBytes} bytes free is below the limit ${disk.limitBytes}`)
    return out
  }

  /** Throws the alarm's error when produce to `topic` must be refused. */
  admit(topic: string): void {
    if (!this.active || topic.startsWith('__')) return
    const retryAfterMs = Math.max(1000, this.#opts.alarmCheckIntervalMs)
    const { memory, disk } = this.#status
    if (memory.active) {
      this.refused.memory++
      throw new MemoryAlarmError(
        'the broker is above its memory high watermark; producers are blocked until it drops',
        {
          rssBytes: memory.rssBytes,
          limitBytes: memory.limitBytes,
          retryAfterMs,
        },
      )
    }
    this.refused.disk++
    throw new DiskAlarmError(
      'the data directory is below its free disk limit; producers are blocked until space frees',
      {
        freeBytes: disk.freeBytes,
        limitBytes: disk.limitBytes,
        retryAfterMs,
      },
    )
  }
}

type PartitionRequest = Exclude<HostRequest, { op: 'stats' | 'retention' }>

/** Produce bytes in flight per partition, counted around the router's append requests. */
export class ProduceInflight {
  readonly limitBytes: number
  readonly #bytes = new Map<string, number>()
  #total = 0
  /** Produce requests refused with THROTTLED since start. */
  throttled = 0

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes
  }

  get totalBytes(): number {
    return this.#total
  }

  bytes(topic: string, partition: number): number {
    return this.#bytes.get(partitionKey(topic, partition)) ?? 0
  }

  /** Throws THROTTLED when `bytes` more would pass the partition's bound. */
  admit(topic: string, partition: number, bytes: number): void {
    const current = this.bytes(topic, partition)
    if (current === 0 || current + bytes <= this.limitBytes) return
    this.throttled++
    throw new ThrottledError(
      `partition ${topic}/${partition} has ${current} produce bytes in flight; retry shortly`,
      {
        topic,
        partition,
        inflightBytes: current,
        limitBytes: this.limitBytes,
        retryAfterMs: THROTTLED_RETRY_MS,
      },
    )
  }

  #add(key: string, delta: number): void {
    const next = (this.#bytes.get(key) ?? 0) + delta
    if (next <= 0) this.#bytes.delete(key)
    else this.#bytes.set(key, next)
    this.#total += delta
  }

  /** A router that counts every append's bytes from send to answer; everything else passes through. */
  track(inner: PartitionRouter): PartitionRouter {
    const add = (key: string, delta: number) => this.#add(key, delta)
    const tracked: PartitionRouter = {
      kind: inner.kind,
      async request<R extends PartitionRequest>(req: R): Promise<HostResponses[R['op']]> {
        if (req.op !== 'append') return inner.request(req)
        // Read the length now: the pool router transfers the batch and leaves it detached.
        const bytes = req.batch.length
        const key = partitionKey(req.topic, req.partition)
        add(key, bytes)
        try {
          return await inner.request(req)
        } finally {
          add(key, -bytes)
        }
      },
      stats: () => inner.stats(),
      retention: (nowMs) => inner.retention(nowMs),
      onEvent: (listener) => inner.onEvent(listener),
      close: () => inner.close(),
    }
    if (inner.load) tracked.load = () => inner.load?.() ?? []
    return tracked
  }
}

/** The broker's produce gate: alarms first (whole request), then the partition's in-flight bound. */
export function produceAdmission(alarms: ResourceAlarms, inflight: ProduceInflight): ProduceAdmission {
  return (topic, partition, bytes) => {
    alarms.admit(topic)
    inflight.admit(topic, partition, bytes)
  }
}
