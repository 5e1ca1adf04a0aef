/**
 * Replication on one machine: etcd and three brokers on loopback ports, each with a temp data dir.
 *
 * 1. acks=all at replication factor 1 vs 3: `--concurrency` producers, each a loop of one request of
 *    `--batch` records (100 B values, MessagePack) to the partition's leader, for `--duration`
 *    seconds after a warm-up. Reports records/s, request latency, and RF 3 as a ratio of RF 1 (both
 *    measured in this run, on the same cluster).
 * 2. Failover: a writer sends one acks=all record at a time to the leader of an RF 3 partition; the
 *    leader is killed with SIGKILL; measured is the time from the kill to the first write confirmed
 *    by the new leader (the writer follows NOT_LEADER and tries the other brokers every 20 ms, so
 *    the figure is the cluster's, not a client's backoff). `--rounds` kills; between rounds the
 *    killed broker restarts and the test waits until it is back in the ISR.
 *
 * The failover time is bounded below by the lease: the controller acts when etcd expires the dead
 * leader's lease (`--lease-ms`, rounded up to whole seconds by etcd), then the new leader takes over.
 *
 *     npm run build && node bench/cluster/failover.mjs [--duration 5] [--warmup 1] [--concurrency 16]
 *                                                      [--batch 10] [--rounds 3] [--lease-ms 3000]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { log, scenarioMain } from '../lib/cli.mjs'
import { commandLine, commitInfo, machineInfo } from '../lib/env.mjs'
import { BROKER_EXTRA_ARGS, BROKER_MAIN, startProcess } from '../lib/proc.mjs'
import { histogram, recordMs, round, sleep, summarize } from '../lib/stats.mjs'
import { packr, unpackr } from '../lib/wire.mjs'

const RECORD_BYTES = 100
const agent = new Agent({ connections: 64, keepAliveTimeout: 30_000, connect: { timeout: 2000 } })

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function call(url, method, body, timeoutMs = 30_000) {
  const res = await request(url, {
    method,
    dispatcher: agent,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    headers: {
      accept: 'application/vnd.msgpack',
      ...(body === undefined ? {} : { 'content-type': 'application/vnd.msgpack' }),
    },
    body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : packr.pack(body),
  })
  const bytes = Buffer.from(await res.body.arrayBuffer())
  return { status: res.statusCode, body: bytes.length > 0 ? unpackr.unpack(bytes) : undefined }
}

async function startEtcd(dir) {
  const client = `http://127.0.0.1:${await freePort()}`
  const peer = `http://127.0.0.1:${await freePort()}`
  const proc = await startProcess(
    'etcd',
    [
      '--name',
      'bench',
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `bench=${peer}`,
    ],
    { ready: /ready to serve client requests/, name: 'etcd' },
  )
  return { url: client, proc }
}

async function startCluster(dir, leaseMs) {
  const etcd = await startEtcd(dir)
  const brokers = new Map()
  const start = async (id, port) => {
    const url = `http://127.0.0.1:${port}`
    const proc = await startProcess(
      process.execPath,
      [
        BROKER_MAIN,
        'serve',
        '--port',
        String(port),
        '--data-dir',
        join(dir, `broker-${id}`),
        '--broker-id',
        String(id),
        '--advertise-url',
        url,
        '--etcd',
        etcd.url,
        '--broker-lease-ms',
        String(leaseMs),
        '--log-level',
        'warn',
        ...BROKER_EXTRA_ARGS,
      ],
      { ready: /strata listening on (\S+)/, timeoutMs: 60_000, name: `broker ${id}` },
    )
    brokers.set(id, { id, port, url, proc })
  }
  const ports = [await freePort(), await freePort(), await freePort()]
  await Promise.all([1, 2, 3].map((id) => start(id, ports[id - 1])))
  return {
    brokers,
    restart: (id) => start(id, brokers.get(id).port),
    async stop() {
      await Promise.allSettled([...brokers.values()].map((b) => b.proc.stop({ graceMs: 5000 })))
      await etcd.proc.stop({ graceMs: 2000 })
    },
  }
}

async function describe(url, topic) {
  const res = await call(`${url}/v1/topics/${topic}`, 'GET')
  if (res.status !== 200) throw new Error(`describe ${topic}: ${res.status}`)
  return res.body.partitions[0]
}

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const v = await check()
      if (v) return v
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

async function createTopic(cluster, name, replicationFactor) {
  const any = cluster.brokers.get(1).url
  const res = await call(`${any}/v1/topics`, 'POST', { name, partitions: 1, replicationFactor })
  if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`)
  return waitFor(
    async () => {
      const p = await describe(any, name)
      const leader = cluster.brokers.get(p.leader)
      if (!leader || p.isr.length !== replicationFactor) return undefined
      const probe = await call(`${leader.url}/v1/topics/${name}/partitions/0/records?offset=0`, 'GET')
      return probe.status === 200 ? leader.url : undefined
    },
    30_000,
    `${name} to have a serving leader`,
  )
}

/** `concurrency` loops of one acks=all batch request each, for `seconds`. */
async function produceFor(leaderUrl, topic, { seconds, concurrency, batch, durability }) {
  const value = Buffer.alloc(RECORD_BYTES, 0x61)
  const body = packr.pack({ records: Array.from({ length: batch }, () => ({ value })), acks: 'all' })
  const h = histogram()
  let records = 0
  let errors = 0
  const end = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        const res = await call(`${leaderUrl}/v1/topics/${topic}/partitions/0/records`, 'POST', body)
        if (res.status === 200 && res.body.durability === durability) {
          recordMs(h, performance.now() - t0)
          records += batch
        } else errors++
      }
    }),
  )
  return {
    recordsPerSec: round(records / seconds, 0),
    requests: h.totalCount,
    errors,
    latencyMs: summarize(h),
  }
}

/** One kill: ms from SIGKILL of the leader to the first acks=all write the new leader confirmed. */
async function failoverRound(cluster, topic) {
  const any = [...cluster.brokers.values()].map((b) => b.url)
  const before = await describe(any[0], topic)
  const victim = cluster.brokers.get(before.leader)
  let target = victim.url
  let killedAt = 0
  let firstAfterKill = 0
  let newLeaderUrl = ''
  let attempts = 0
  let n = 0
  const writer = (async () => {
    for (;;) {
      attempts++
      let res
      try {
        res = await call(
          `${target}/v1/topics/${topic}/partitions/0/records`,
          'POST',
          {
            records: [{ value: n }],
            acks: 'all',
          },
          10_000,
        )
      } catch {
        res = { status: 0 }
      }
      if (res.status === 200) {
        n++
        if (killedAt > 0 && target !== victim.url) {
          firstAfterKill = performance.now()
          newLeaderUrl = target
          return
        }
        continue
      }
      const named = res.body?.error?.details?.leaderUrl
      if (typeof named === 'string' && named !== victim.url) target = named
      else target = any[(any.indexOf(target) + 1) % any.length]
      await sleep(20)
    }
  })()
  await sleep(500)
  killedAt = performance.now()
  await victim.proc.stop({ signal: 'SIGKILL' })
  await writer
  const ms = round(firstAfterKill - killedAt, 0)
  const newLeader = [...cluster.brokers.values()].find((b) => b.url === newLeaderUrl)?.id
  log(`  killed broker ${victim.id}; broker ${newLeader} confirmed the next write after ${ms} ms`)
  await cluster.restart(victim.id)
  await waitFor(
    async () => (await describe(newLeaderUrl, topic)).isr.length === 3,
    60_000,
    'the ISR to be whole',
  )
  return { killed: victim.id, newLeader, failoverMs: ms, writesBeforeKill: n, attempts }
}

scenarioMain(import.meta.url, async (args) => {
  const seconds = args.duration ?? 5
  const warmup = args.warmup ?? 1
  const concurrency = args.concurrency ?? 16
  const batch = args.batch ?? 10
  const rounds = args.rounds ?? 3
  const leaseMs = args.leaseMs ?? 3000
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-cluster-'))
  const started = Date.now()
  const cluster = await startCluster(dir, leaseMs)
  try {
    const throughput = {}
    for (const rf of [1, 3]) {
      const topic = `bench-rf${rf}`
      const leaderUrl = await createTopic(cluster, topic, rf)
      // A confirm from RF 1 is fsynced on the leader; from RF 3, on every in-sync replica.
      const durability = rf === 1 ? 'fsynced' : 'replicated'
      await produceFor(leaderUrl, topic, { seconds: warmup, concurrency, batch, durability })
      throughput[`rf${rf}`] = await produceFor(leaderUrl, topic, { seconds, concurrency, batch, durability })
      log(
        `acks=all RF ${rf}: ${throughput[`rf${rf}`].recordsPerSec} records/s, p50 ${throughput[`rf${rf}`].latencyMs.p50} ms`,
      )
    }
    const ratio = round(throughput.rf3.recordsPerSec / throughput.rf1.recordsPerSec, 2)
    log(`RF 3 / RF 1 throughput: ${ratio}`)
    await createTopic(cluster, 'bench-failover', 3)
    const kills = []
    for (let i = 0; i < rounds; i++) kills.push(await failoverRound(cluster, 'bench-failover'))
    const times = kills.map((k) => k.failoverMs).sort((a, b) => a - b)
    return {
      scenario: 'cluster-failover',
      command: commandLine(),
      commit: commitInfo(),
      machine: machineInfo(),
      config: { brokers: 3, leaseMs, seconds, warmup, concurrency, batch, recordBytes: RECORD_BYTES, rounds },
      throughput: { ...throughput, rf3OverRf1: ratio },
      failover: {
        rounds: kills,
        medianMs: times[Math.floor(times.length / 2)],
        minMs: times[0],
        maxMs: times.at(-1),
      },
      tookSec: round((Date.now() - started) / 1000, 1),
    }
  } finally {
    await cluster.stop()
    await agent.close()
    await rm(dir, { recursive: true, force: true })
  }
})
