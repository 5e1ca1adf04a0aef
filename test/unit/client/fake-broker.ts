/**
 * A small in-memory broker for the client's unit tests, speaking the routes of docs/http-api.md
 * over real HTTP.
 *
 * It keeps what the client's logic depends on and nothing more: topics with partitions, produce
 * with producerId + sequence dedupe (a repeat answers with the first write's offsets) and, on the
 * partition route, the broker's sequence rules (409 DUPLICATE_SEQUENCE at or below the last
 * sequence, 409 OUT_OF_ORDER_SEQUENCE past the next one of a producer the partition knows), partition
 * fetch with a short long-poll, one consumer group coordinator (round-robin assignment, member
 * positions, commits with generation checks, member seeks, offsets), offset lookups, and
 * `/v1/cluster`. Every request is logged, so tests count round trips. `faults` is a queue of
 * one-shot injections run before a route, e.g. "do the write, then cut the connection instead of
 * answering".
 */
import { type AddressInfo, createServer } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { Packr } from 'msgpackr'

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'bigint' })

export interface LoggedRequest {
  method: string
  path: string
  body: any
}

interface StoredRecord {
  offset: number
  timestamp: number
  key: unknown
  value: unknown
  headers: Record<string, unknown>
}

interface Member {
  memberId: string
  topics: string[]
  /** The broker's auto ack: a fetch commits what it hands out. */
  autoCommit: boolean
  assignments: Array<{ topic: string; partition: number }>
  /** Next offset to deliver, per `topic/partition`. */
  positions: Map<string, number>
}

interface Group {
  generation: number
  members: Map<string, Member>
  committed: Map<string, number>
}

/** Runs before the route; returns true when it answered (or cut) the request itself. */
export type Fault = (
  req: FastifyRequest,
  reply: FastifyReply,
  broker: FakeBroker,
) => boolean | Promise<boolean>

export class FakeBroker {
  readonly app: FastifyInstance
  readonly requests: LoggedRequest[] = []
  readonly topics = new Map<string, StoredRecord[][]>()
  readonly groups = new Map<string, Group>()
  readonly faults: Array<{ match: (req: FastifyRequest) => boolean; fault: Fault }> = []
  readonly #dedupe = new Map<string, unknown>()
  /** Partition route: `topic/partition/producerId` → the producer's next sequence there. */
  readonly #nextSequence = new Map<string, number>()
  #memberSeq = 0
  url = ''

  constructor() {
    this.app = Fastify()
    this.app.addContentTypeParser('application/vnd.msgpack', { parseAs: 'buffer' }, (_req, body, done) => {
      try {
        done(null, (body as Buffer).length ? packr.unpack(body as Buffer) : undefined)
      } catch (err) {
        done(err as Error, undefined)
      }
    })
    this.app.addHook('preHandler', async (req, reply) => {
      this.requests.push({ method: req.method, path: req.url.split('?')[0] as string, body: req.body })
      const i = this.faults.findIndex((f) => f.match(req))
      if (i >= 0) {
        const [injected] = this.faults.splice(i, 1)
        if (injected && (await injected.fault(req, reply, this))) return reply
      }
      return undefined
    })
    this.#routes()
  }

  async start(port = 0): Promise<string> {
    await this.app.listen({ port, host: '127.0.0.1' })
    this.url = `http://127.0.0.1:${(this.app.server.address() as AddressInfo).port}`
    return this.url
  }

  async stop(): Promise<void> {
    await this.app.close()
  }

  createTopic(name: string, partitions = 1): void {
    this.topics.set(
      name,
      Array.from({ length: partitions }, () => []),
    )
  }

  /** A topic whose partition `p` holds records with values `p-0`, `p-1`, … */
  fill(topic: string, partitions: number, perPartition: number): void {
    this.createTopic(topic, partitions)
    for (let p = 0; p < partitions; p++) {
      this.write(topic, {
        records: Array.from({ length: perPartition }, (_, i) => ({ value: `${p}-${i}`, partition: p })),
      })
    }
  }

  count(method: string, pathPattern: RegExp): number {
    return this.requests.filter((r) => r.method === method && pathPattern.test(r.path)).length
  }

  /** Queues a one-shot fault for the next request matching `method` and `pathPattern`. */
  inject(method: string, pathPattern: RegExp, fault: Fault): void {
    this.faults.push({
      match: (req) => req.method === method && pathPattern.test(req.url.split('?')[0] as string),
      fault,
    })
  }

  #routes(): void {
    const app = this.app
    app.get('/healthz', async () => ({ status: 'ok' }))
    app.get('/v1/cluster', async (_req, reply) =>
      answer(reply, 200, { brokers: [{ id: 1, url: this.url, alive: true }], controller: 1 }),
    )
    app.post('/v1/topics', async (req, reply) => {
      const body = req.body as { name: string; partitions?: number }
      if (this.topics.has(body.name)) return fail(reply, 409, 'TOPIC_EXISTS', `topic ${body.name} exists`)
      this.createTopic(body.name, body.partitions ?? 1)
      return answer(reply, 201, this.#describe(body.name))
    })
    app.get('/v1/topics', async (_req, reply) =>
      answer(reply, 200, { topics: [...this.topics.keys()].map((t) => this.#describe(t)) }),
    )
    app.get('/v1/topics/:topic', async (req, reply) => {
      const { topic } = req.params as { topic: string }
      if (!this.topics.has(topic)) return fail(reply, 404, 'TOPIC_NOT_FOUND', `no topic ${topic}`)
      return answer(reply, 200, this.#describe(topic))
    })
    app.post('/v1/topics/:topic/records', async (req, reply) => {
      const { topic } = req.params as { topic: string }
      return this.#produce(reply, topic, req.body as ProduceBody)
    })
    app.post('/v1/topics/:topic/partitions/:partition/records', async (req, reply) => {
      const { topic, partition } = req.params as { topic: string; partition: string }
      return this.#produce(reply, topic, req.body as ProduceBody, Number(partition))
    })
    app.get('/v1/topics/:topic/partitions/:partition/records', async (req, reply) => {
      const { topic, partition } = req.params as { topic: string; partition: string }
      const q = req.query as { offset?: string; maxRecords?: string; maxWaitMs?: string }
      const log = this.topics.get(topic)?.[Number(partition)]
      if (!log) return fail(reply, 404, 'TOPIC_NOT_FOUND', `no ${topic}/${partition}`)
      const offset = Number(q.offset ?? 0)
      const deadline = Date.now() + Number(q.maxWaitMs ?? 0)
      while (log.length <= offset && Date.now() < deadline) await delay(5)
      const records = log.slice(offset, offset + Number(q.maxRecords ?? 500))
      return answer(reply, 200, {
        records,
        nextOffset: offset + records.length,
        highWatermark: log.length,
        logStartOffset: 0,
      })
    })
    this.#groupRoutes()
  }

  #groupRoutes(): void {
    const app = this.app
    app.post('/v1/groups/:group/members', async (req, reply) => {
      const { group } = req.params as { group: string }
      const body = req.body as { topics: string[]; autoCommit?: boolean }
      const g = this.#group(group)
      const memberId = `m-${++this.#memberSeq}`
      g.members.set(memberId, {
        memberId,
        topics: body.topics,
        autoCommit: body.autoCommit === true,
        assignments: [],
        positions: new Map(),
      })
      this.#rebalance(g)
      const m = g.members.get(memberId) as Member
      return answer(reply, 200, { memberId, generation: g.generation, assignments: m.assignments })
    })
    app.post('/v1/groups/:group/members/:member/heartbeat', async (req, reply) => {
      const m = this.#member(req)
      if (!m) return fail(reply, 404, 'MEMBER_NOT_FOUND', 'unknown member')
      const g = this.#group((req.params as { group: string }).group)
      return answer(reply, 200, { generation: g.generation, assignments: m.assignments, rebalancing: false })
    })
    const groupFetch = async (req: FastifyRequest, reply: FastifyReply, body: GroupFetchBody) => {
      const m = this.#member(req)
      if (!m) return fail(reply, 404, 'MEMBER_NOT_FOUND', 'unknown member')
      const g = this.#group((req.params as { group: string }).group)
      for (const c of body.commit ?? []) g.committed.set(`${c.topic}/${c.partition}`, c.offset)
      const max = Number(body.maxRecords ?? 500)
      const deadline = Date.now() + Number(body.maxWaitMs ?? 0)
      for (;;) {
        const out: unknown[] = []
        for (const a of m.assignments) {
          const key = `${a.topic}/${a.partition}`
          const log = this.topics.get(a.topic)?.[a.partition] ?? []
          let pos = m.positions.get(key) ?? g.committed.get(key) ?? 0
          while (pos < log.length && out.length < max)
            out.push({ topic: a.topic, partition: a.partition, ...log[pos++] })
          m.positions.set(key, pos)
          if (m.autoCommit && pos > (g.committed.get(key) ?? 0)) g.committed.set(key, pos)
        }
        if (out.length > 0 || Date.now() >= deadline || req.raw.destroyed) {
          return answer(reply, 200, { generation: g.generation, records: out })
        }
        await delay(5)
      }
    }
    app.get('/v1/groups/:group/members/:member/records', async (req, reply) =>
      groupFetch(req, reply, req.query as GroupFetchBody),
    )
    app.post('/v1/groups/:group/members/:member/records', async (req, reply) =>
      groupFetch(req, reply, req.body as GroupFetchBody),
    )
    app.post('/v1/groups/:group/members/:member/seek', async (req, reply) => {
      const m = this.#member(req)
      if (!m) return fail(reply, 404, 'MEMBER_NOT_FOUND', 'unknown member')
      const g = this.#group((req.params as { group: string }).group)
      const body = req.body as { generation?: number; offsets: NonNullable<GroupFetchBody['commit']> }
      if (body.generation !== undefined && body.generation !== g.generation) {
        return fail(reply, 409, 'STALE_GENERATION', `generation ${body.generation} is not ${g.generation}`)
      }
      for (const o of body.offsets) m.positions.set(`${o.topic}/${o.partition}`, o.offset)
      return reply.code(204).send()
    })
    app.get('/v1/groups/:group/offsets', async (req, reply) => {
      const g = this.#group((req.params as { group: string }).group)
      const offsets = [...g.committed].map(([key, committed]) => {
        const [topic, partition] = key.split('/') as [string, string]
        const end = this.topics.get(topic)?.[Number(partition)]?.length ?? 0
        return { topic, partition: Number(partition), committed, logEndOffset: end, lag: end - committed }
      })
      return answer(reply, 200, { offsets })
    })
    app.get('/v1/topics/:topic/partitions/:partition/offsets', async (req, reply) => {
      const { topic, partition } = req.params as { topic: string; partition: string }
      const log = this.topics.get(topic)?.[Number(partition)]
      if (!log) return fail(reply, 404, 'TOPIC_NOT_FOUND', `no ${topic}/${partition}`)
      const at = String((req.query as { at?: string }).at)
      const offset =
        at === 'earliest'
          ? 0
          : at === 'latest'
            ? log.length
            : (log.find((r) => r.timestamp >= Number(at))?.offset ?? log.length)
      return answer(reply, 200, { offset })
    })
    app.post('/v1/groups/:group/offsets', async (req, reply) => {
      const g = this.#group((req.params as { group: string }).group)
      const body = req.body as { memberId?: string; generation?: number; offsets: GroupFetchBody['commit'] }
      if (body.generation !== undefined && body.generation !== g.generation) {
        return fail(reply, 409, 'STALE_GENERATION', `generation ${body.generation} is not ${g.generation}`)
      }
      if (body.memberId !== undefined) {
        // As the coordinator: a member it does not know, or a partition the member does not own, is refused.
        const member = g.members.get(body.memberId)
        if (!member) return fail(reply, 404, 'MEMBER_NOT_FOUND', 'unknown member')
        const owns = (c: { topic: string; partition: number }) =>
          member.assignments.some((a) => a.topic === c.topic && a.partition === c.partition)
        if (!(body.offsets ?? []).every(owns)) return fail(reply, 409, 'STALE_GENERATION', 'not assigned')
      }
      for (const c of body.offsets ?? []) g.committed.set(`${c.topic}/${c.partition}`, c.offset)
      return reply.code(204).send()
    })
    app.delete('/v1/groups/:group/members/:member', async (req, reply) => {
      const { group, member } = req.params as { group: string; member: string }
      const g = this.#group(group)
      if (!g.members.delete(member)) return fail(reply, 404, 'MEMBER_NOT_FOUND', 'unknown member')
      this.#rebalance(g)
      return reply.code(204).send()
    })
  }

  #produce(reply: FastifyReply, topic: string, body: ProduceBody, partition?: number) {
    if (!this.topics.has(topic)) return fail(reply, 404, 'TOPIC_NOT_FOUND', `no topic ${topic}`)
    try {
      return answer(reply, 200, this.write(topic, body, partition))
    } catch (err) {
      if (!(err instanceof SequenceRefusal)) throw err
      return fail(reply, 409, err.code, err.message)
    }
  }

  /**
   * Appends a produce body (or finds its earlier write by producerId + sequence) and returns the
   * answer; `partition` is the partition route's, which puts every record there.
   */
  write(topic: string, body: ProduceBody, partition?: number): unknown {
    const partitions = this.topics.get(topic) ?? []
    const dedupeKey =
      body.producerId === undefined
        ? undefined
        : `${topic}/${partition ?? 'any'}/${body.producerId}/${body.sequence}`
    if (dedupeKey && this.#dedupe.has(dedupeKey)) return this.#dedupe.get(dedupeKey)
    const producerKey =
      body.producerId === undefined || partition === undefined
        ? undefined
        : `${topic}/${partition}/${body.producerId}`
    const next = producerKey === undefined ? undefined : this.#nextSequence.get(producerKey)
    const sequence = body.sequence ?? 0
    if (next !== undefined && sequence < next)
      throw new SequenceRefusal('DUPLICATE_SEQUENCE', `sequence ${sequence} is below ${next}`)
    if (next !== undefined && sequence > next)
      throw new SequenceRefusal('OUT_OF_ORDER_SEQUENCE', `sequence ${sequence} is not the next, ${next}`)
    if (producerKey !== undefined) this.#nextSequence.set(producerKey, sequence + body.records.length)
    const now = Date.now()
    const offsets = body.records.map((r) => {
      const p = partition ?? r.partition ?? 0
      const log = partitions[p]
      if (!log) throw new Error(`no partition ${p}`)
      log.push({
        offset: log.length,
        timestamp: r.timestamp ?? now,
        key: r.key ?? null,
        value: r.value,
        headers: r.headers ?? {},
      })
      return { partition: p, offset: log.length - 1 }
    })
    const result = { offsets, durability: 'fsynced' }
    if (dedupeKey) this.#dedupe.set(dedupeKey, result)
    return result
  }

  #describe(topic: string) {
    const partitions = this.topics.get(topic) ?? []
    return {
      name: topic,
      replicationFactor: 1,
      config: {},
      partitions: partitions.map((log, partition) => ({
        partition,
        leader: 1,
        replicas: [1],
        isr: [1],
        logStartOffset: 0,
        logEndOffset: log.length,
        highWatermark: log.length,
      })),
    }
  }

  #group(name: string): Group {
    let g = this.groups.get(name)
    if (!g) {
      g = { generation: 0, members: new Map(), committed: new Map() }
      this.groups.set(name, g)
    }
    return g
  }

  #member(req: FastifyRequest): Member | undefined {
    const { group, member } = req.params as { group: string; member: string }
    return this.groups.get(group)?.members.get(member)
  }

  /** Round robin over members in join order; positions restart at the commit for moved partitions. */
  #rebalance(g: Group): void {
    g.generation++
    const members = [...g.members.values()]
    for (const m of members) {
      m.assignments = []
      m.positions.clear()
    }
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort()
    let i = 0
    for (const topic of topics) {
      const count = this.topics.get(topic)?.length ?? 0
      for (let partition = 0; partition < count; partition++) {
        const takers = members.filter((m) => m.topics.includes(topic))
        if (takers.length === 0) continue
        ;(takers[i++ % takers.length] as Member).assignments.push({ topic, partition })
      }
    }
  }
}

export interface ProduceBody {
  records: Array<{
    key?: unknown
    value: unknown
    headers?: Record<string, unknown>
    timestamp?: number
    partition?: number
  }>
  acks?: unknown
  producerId?: number
  sequence?: number
}

interface GroupFetchBody {
  commit?: Array<{ topic: string; partition: number; offset: number }>
  maxRecords?: number | string
  maxWaitMs?: number | string
}

/** Answers in the encoding the request asked for, as docs/http-api.md says ("Content negotiation"). */
export function answer(reply: FastifyReply, status: number, body: unknown) {
  const accept = String(reply.request.headers.accept ?? reply.request.headers['content-type'] ?? '')
  if (accept.includes('msgpack'))
    return reply.code(status).type('application/vnd.msgpack').send(packr.pack(body))
  return reply.code(status).type('application/json').send(JSON.stringify(body))
}

export function fail(reply: FastifyReply, status: number, code: string, message: string, details?: unknown) {
  return answer(reply, status, { error: { code, message, ...(details !== undefined && { details }) } })
}

class SequenceRefusal extends Error {
  constructor(
    readonly code: 'DUPLICATE_SEQUENCE' | 'OUT_OF_ORDER_SEQUENCE',
    message: string,
  ) {
    super(message)
  }
}

/** A fault for produce: do the write (unless its sequence is refused), then cut the socket instead of answering. */
export const cutAfterWrite: Fault = (req, reply, broker) => {
  const { topic, partition } = req.params as { topic: string; partition?: string }
  try {
    broker.write(topic, req.body as ProduceBody, partition === undefined ? undefined : Number(partition))
  } catch (err) {
    if (!(err instanceof SequenceRefusal)) throw err
  }
  reply.hijack()
  req.raw.socket.destroy()
  return true
}

/** A fault: cut the socket before doing anything. */
export const cutBeforeWrite: Fault = (req, reply) => {
  reply.hijack()
  req.raw.socket.destroy()
  return true
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A loopback URL nothing listens on (a port bound, read and released): a broker that is down. */
export async function deadUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}
