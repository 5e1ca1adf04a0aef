/**
 * A real cluster for tests: one etcd process and N broker processes (test/helpers/broker-process.ts)
 * on free loopback ports, each with its own temp data directory, torn down by PID.
 *
 * Broker i (1-based) runs with `--broker-id i --advertise-url http://127.0.0.1:<its port> --etcd
 * <etcd url>`. A broker may instead advertise a TCP proxy in front of it (`proxied: true`), which a
 * test can pause to cut its followers off without stopping the broker. Helpers read segment bytes
 * so tests can compare replicas byte for byte up to the high watermark.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { type BrokerProcess, startBroker, tempDataDir } from './broker-process.js'
import { jsonRequest, TEST_ADMIN_PASSWORD, TEST_AUTH, TEST_INTER_BROKER_TOKEN } from './http.js'

export const ETCD_BIN = process.env.STRATA_ETCD_BIN ?? 'etcd'
/**
 * A broker joins etcd, waits for enough peers to create the internal topic, and opens its logs;
 * on a loaded 2-core machine node's own start-up alone can take over 10 s.
 */
const BROKER_START_TIMEOUT_MS = 60_000

const liveChildren = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL')
})

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value as T
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      )
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

// ---- etcd ----------------------------------------------------------------------------------------

export interface EtcdProcess {
  url: string
  pid: number
  dataDir: string
  /** SIGKILL (default) or another signal; waits for exit unless SIGSTOP/SIGCONT. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** A new etcd on the same data directory and ports (after kill). */
  restart(): Promise<EtcdProcess>
  stop(): Promise<void>
}

export async function startEtcd(
  opts: { dataDir?: string; clientPort?: number; peerPort?: number } = {},
): Promise<EtcdProcess> {
  const dataDir = opts.dataDir ?? tempDataDir('strata-etcd-')
  const clientPort = opts.clientPort ?? (await freePort())
  const peerPort = opts.peerPort ?? (await freePort())
  const client = `http://127.0.0.1:${clientPort}`
  const peer = `http://127.0.0.1:${peerPort}`
  const child = spawn(
    ETCD_BIN,
    [
      '--name',
      'strata-test',
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `strata-test=${peer}`,
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  liveChildren.add(child)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>((res) => child.once('exit', () => res()))
  exited.then(() => liveChildren.delete(child))
  let failed: Error | undefined
  child.once('error', (err) => {
    failed = err
  })
  await waitUntil(
    async () => {
      if (failed) throw failed
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`)
      const res = await fetch(`${client}/health`)
      return res.ok && ((await res.json()) as { health?: string }).health === 'true'
    },
    20_000,
    'etcd to serve',
  )
  const proc: EtcdProcess = {
    url: client,
    pid: child.pid as number,
    dataDir,
    async kill(signal = 'SIGKILL') {
      child.kill(signal)
      if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') await exited
    },
    restart() {
      return startEtcd({ dataDir, clientPort, peerPort })
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
      if (opts.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true })
    },
  }
  return proc
}

// ---- a TCP proxy a test can pause ----------------------------------------------------------------

export interface TcpProxy {
  port: number
  url: string
  setTarget(port: number): void
  /** Holds all traffic (both directions, existing and new connections) until resume(). */
  pause(): void
  resume(): void
  close(): Promise<void>
}

export async function startProxy(): Promise<TcpProxy> {
  let target = 0
  let paused = false
  const sockets = new Set<net.Socket>()
  const pairs: Array<[net.Socket, net.Socket]> = []
  const server = net.createServer((inbound) => {
    const outbound = net.connect(target, '127.0.0.1')
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => sockets.delete(s))
    }
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    inbound.on('close', () => outbound.destroy())
    outbound.on('close', () => inbound.destroy())
    pairs.push([inbound, outbound])
    if (paused) {
      inbound.pause()
      outbound.pause()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setTarget(p) {
      target = p
    },
    pause() {
      paused = true
      for (const s of sockets) s.pause()
    },
    resume() {
      paused = false
      for (const s of sockets) s.resume()
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

// ---- the cluster ---------------------------------------------------------------------------------

export interface ClusterOptions {
  brokers?: number
  /** Extra flags for every broker (e.g. `--replica-lag-max-ms 30000`). */
  args?: string[]
  /** Extra flags for one broker, by id (e.g. `{ 3: ['--max-partitions', '10'] }`). */
  brokerArgs?: Record<number, string[]>
  /** Broker ids (1-based) that advertise a pausable proxy instead of their own port. */
  proxied?: number[]
  env?: Record<string, string>
  /** `https` when `args` make the brokers serve TLS: their advertised URLs use it. Default `http`. */
  scheme?: 'http' | 'https'
}

export interface TestCluster {
  etcd: EtcdProcess
  /** The live process of broker `id` (replaced by restart). */
  broker(id: number): BrokerProcess
  /** The URL broker `id` advertises (its proxy's when proxied). */
  advertised(id: number): string
  proxy(id: number): TcpProxy | undefined
  ids: number[]
  /** Restarts broker `id` on its data directory and port (after kill or stop). */
  restart(id: number): Promise<BrokerProcess>
  /** Starts a new broker with id `id` (not one of `ids` yet) that joins the cluster. */
  add(id: number): Promise<BrokerProcess>
  /** Any broker that answers, for metadata questions. */
  anyUrl(exclude?: number[]): string
  close(): Promise<void>
}

export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const count = opts.brokers ?? 3
  const etcd = await startEtcd()
  const ids = Array.from({ length: count }, (_, i) => i + 1)
  const ports = new Map<number, number>()
  const proxies = new Map<number, TcpProxy>()
  const dataDirs = new Map<number, string>()
  for (const id of ids) {
    ports.set(id, await freePort())
    dataDirs.set(id, tempDataDir(`strata-b${id}-`))
    if (opts.proxied?.includes(id)) {
      const proxy = await startProxy()
      proxy.setTarget(ports.get(id) as number)
      proxies.set(id, proxy)
    }
  }
  const scheme = opts.scheme ?? 'http'
  const advertised = (id: number) =>
    proxies.get(id)?.url.replace(/^http:/, `${scheme}:`) ?? `${scheme}://127.0.0.1:${ports.get(id)}`
  const argsFor = (id: number) => [
    '--broker-id',
    String(id),
    '--advertise-url',
    advertised(id),
    '--etcd',
    etcd.url,
    ...(opts.args ?? []),
    ...(opts.brokerArgs?.[id] ?? []),
    // e.g. STRATA_CLUSTER_ARGS='--workers 2' runs the cluster suite on partition worker threads.
    ...(process.env.STRATA_CLUSTER_ARGS?.split(/\s+/).filter((a) => a !== '') ?? []),
    ...(TEST_AUTH ? ['--auth'] : []),
  ]
  const env = {
    ...(TEST_AUTH && {
      STRATA_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
      STRATA_INTER_BROKER_TOKEN: TEST_INTER_BROKER_TOKEN,
    }),
    ...opts.env,
  }
  const start = (id: number) =>
    startBroker(
      {
        dataDir: dataDirs.get(id) as string,
        args: argsFor(id),
        startTimeoutMs: BROKER_START_TIMEOUT_MS,
        env,
      },
      ports.get(id),
    )
  const processes = new Map<number, BrokerProcess>()
  const started = await Promise.allSettled(ids.map(start))
  started.forEach((p, i) => {
    if (p.status === 'fulfilled') processes.set(ids[i] as number, p.value)
  })
  const failed = started.find((p) => p.status === 'rejected')
  if (failed) {
    // Never leave a broker behind: it would keep a core busy for every later test.
    await Promise.allSettled([...processes.values()].map((p) => p.kill('SIGKILL')))
    await Promise.allSettled([...proxies.values()].map((p) => p.close()))
    await etcd.stop()
    for (const dir of dataDirs.values()) rmSync(dir, { recursive: true, force: true })
    throw failed.reason
  }
  const cluster: TestCluster = {
    etcd,
    ids,
    broker: (id) => processes.get(id) as BrokerProcess,
    advertised,
    proxy: (id) => proxies.get(id),
    async restart(id) {
      const p = await start(id)
      processes.set(id, p)
      return p
    },
    async add(id) {
      if (ports.has(id)) throw new Error(`broker ${id} is already in the cluster`)
      ports.set(id, await freePort())
      dataDirs.set(id, tempDataDir(`strata-b${id}-`))
      const p = await start(id)
      processes.set(id, p)
      ids.push(id)
      return p
    },
    anyUrl(exclude = []) {
      const id = ids.find((i) => !exclude.includes(i))
      return `${scheme}://127.0.0.1:${ports.get(id as number)}`
    },
    async close() {
      await Promise.allSettled(
        [...processes.values()].map(async (p) => {
          await p.kill('SIGCONT').catch(() => undefined)
          await p.kill('SIGKILL').catch(() => undefined)
        }),
      )
      await Promise.allSettled([...proxies.values()].map((p) => p.close()))
      // A test may have replaced etcd (kill, then restart on the same data directory).
      await cluster.etcd.stop()
      rmSync(cluster.etcd.dataDir, { recursive: true, force: true })
      for (const dir of dataDirs.values()) rmSync(dir, { recursive: true, force: true })
    },
  }
  return cluster
}

// ---- questions to the cluster --------------------------------------------------------------------

export interface PartitionView {
  partition: number
  leader: number
  replicas: number[]
  isr: number[]
  logEndOffset: number
  highWatermark: number
}

export async function describePartition(
  url: string,
  topic: string,
  partition: number,
): Promise<PartitionView> {
  const res = await jsonRequest(`${url}/v1/topics/${encodeURIComponent(topic)}`, 'GET')
  if (res.status !== 200)
    throw new Error(`describe ${topic} on ${url}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.partitions[partition] as PartitionView
}

/**
 * Waits until `url` reports a live leader (other than `not`) for the partition and that leader
 * serves it (a fetch there succeeds, so its role change is done); returns the description.
 */
export async function waitForLeader(
  url: string,
  topic: string,
  partition: number,
  opts: { not?: number; timeoutMs?: number } = {},
): Promise<PartitionView> {
  return waitUntil(
    async () => {
      const p = await describePartition(url, topic, partition)
      if (p.leader <= 0 || p.leader === opts.not) return undefined
      const cluster = await jsonRequest(`${url}/v1/cluster`, 'GET')
      const leaderUrl = (cluster.body.brokers as Array<{ id: number; url: string }>).find(
        (b) => b.id === p.leader,
      )?.url
      if (!leaderUrl) return undefined
      if (topic.startsWith('__')) {
        // Internal topics are closed to client reads (403): the leader describing itself as the
        // leader is as close as a client gets.
        const own = await describePartition(leaderUrl, topic, partition).catch(() => undefined)
        return own?.leader === p.leader ? p : undefined
      }
      const probe = await jsonRequest(
        `${leaderUrl}/v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/records?offset=0&maxRecords=1`,
        'GET',
      )
      return probe.status === 200 ? p : undefined
    },
    opts.timeoutMs ?? 30_000,
    `a serving leader of ${topic}/${partition}${opts.not ? ` other than ${opts.not}` : ''}`,
  )
}

/**
 * A partition's whole log once it is settled: led by its preferred replica with every replica in
 * sync, and the leader's high watermark at its log end. Reads stop at the high watermark, and a new
 * leader's trails its log end until its followers fetch from it, so a log read right after a
 * leadership move (a failover, a preferred-leader election) can come back short.
 */
export async function readSettled(
  cluster: TestCluster,
  topic: string,
  partition: number,
  timeoutMs = 60_000,
): Promise<Array<{ offset: number; value: unknown }>> {
  return waitUntil(
    async () => {
      const view = await waitForLeader(cluster.anyUrl(), topic, partition)
      if (view.leader !== view.replicas[0] || view.isr.length !== view.replicas.length) return undefined
      const own = await describePartition(cluster.advertised(view.leader), topic, partition)
      if (own.leader !== view.leader || own.highWatermark !== own.logEndOffset) return undefined
      const records = await readAll(cluster.advertised(view.leader), topic, partition)
      return records.length === own.logEndOffset ? records : undefined
    },
    timeoutMs,
    `${topic}/${partition} settled on its preferred leader`,
    200,
  )
}

let nextProducerId = Math.floor(Math.random() * 2 ** 40)

/**
 * Produces `values` to one partition as one idempotent request (a fresh producer id), repeating it
 * on transient answers (NOT_LEADER while a leader takes over, NOT_READY) for up to `retryMs`,
 * following a leader that NOT_LEADER names: the producer id and sequence make a repeat of a write
 * that landed return its first offsets.
 */
export async function produceRetrying(
  url: string,
  topic: string,
  partition: number,
  values: unknown[],
  opts: { acks?: 1 | 'all'; retryMs?: number } = {},
): Promise<{ status: number; body: any }> {
  const body = {
    records: values.map((value) => ({ value })),
    acks: opts.acks ?? 'all',
    producerId: nextProducerId++,
    sequence: 0,
  }
  const deadline = Date.now() + (opts.retryMs ?? 15_000)
  let target = url
  for (;;) {
    const res = await jsonRequest(
      `${target}/v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/records`,
      'POST',
      body,
    ).catch((err: unknown) => ({ status: 0, body: { error: { code: 'UNREACHABLE', message: String(err) } } }))
    const transient = res.status === 0 || ['NOT_LEADER', 'NOT_READY'].includes(res.body?.error?.code)
    if (!transient || Date.now() > deadline) return res
    const named = res.body?.error?.details?.leaderUrl
    if (typeof named === 'string') target = named
    await new Promise((r) => setTimeout(r, 200))
  }
}

export async function createTopic(
  url: string,
  body: { name: string; partitions?: number; replicationFactor?: number; config?: Record<string, number> },
): Promise<void> {
  const res = await jsonRequest(`${url}/v1/topics`, 'POST', body)
  if (res.status !== 201) throw new Error(`create ${body.name}: ${res.status} ${JSON.stringify(res.body)}`)
}

/** All `.log` bytes of a partition replica, segments in offset order. */
export function logBytes(dataDir: string, topic: string, partition: number): Buffer {
  const dir = join(dataDir, topic, String(partition))
  const files = readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort()
  return Buffer.concat(files.map((f) => readFileSync(join(dir, f))))
}

/** The prefix of a log's bytes holding exactly the batches below `offset` (a batch boundary). */
export function bytesBelow(log: Buffer, offset: number): Buffer {
  let pos = 0
  while (pos + 61 <= log.length) {
    const base = Number(log.readBigInt64BE(pos))
    if (base >= offset) break
    const size = log.readInt32BE(pos + 8) + 12
    const count = log.readInt32BE(pos + 57)
    if (base + count > offset) throw new Error(`offset ${offset} is inside the batch at ${base}`)
    pos += size
  }
  return log.subarray(0, pos)
}

/** Every record of a partition from a leader, offsets 0..highWatermark, as {offset, value}. */
export async function readAll(
  url: string,
  topic: string,
  partition: number,
): Promise<Array<{ offset: number; value: unknown }>> {
  const out: Array<{ offset: number; value: unknown }> = []
  let offset = 0
  for (;;) {
    const res = await jsonRequest(
      `${url}/v1/topics/${encodeURIComponent(topic)}/partitions/${partition}/records?offset=${offset}&maxRecords=5000`,
      'GET',
    )
    if (res.status !== 200)
      throw new Error(`fetch ${topic}/${partition}@${offset}: ${res.status} ${JSON.stringify(res.body)}`)
    for (const r of res.body.records) out.push({ offset: r.offset, value: r.value })
    if (res.body.records.length === 0 || res.body.nextOffset >= res.body.highWatermark) return out
    offset = res.body.nextOffset
  }
}
