/**
 * Publishing through an exchange (docs/exchanges.md): route each record by its routing key to the
 * distinct topics its bindings name (or to the alternate topic when none match), append it to each
 * with the requested acks, and confirm once every append is confirmed: the confirm covers every
 * topic the record went to. Records for one topic travel as one produce, so a publish of N records
 * costs one batch per target topic, and each record is encoded once however many topics it goes to.
 *
 * acks=0 answers as a produce with acks=0 does: everything checkable is checked first (a refused
 * publish writes nothing), then the answer goes before the write, with no offsets.
 */
import { PayloadTooLargeError } from '../../errors.js'
import { encodeKey, encodeRecordBody } from '../../wire/record-codec.js'
import type { Broker, EncodedRecords, ProduceRecord, ProduceResult } from '../broker.js'
import { refuseInternalTopic } from '../internal-topics.js'
import type { ExchangeBackend } from './exchange-store.js'

export type PublishAcks = 0 | 1 | 'all'

export interface PublishOutcome {
  results: Array<{ routed: Array<{ topic: string; partition: number; offset: number }> }>
  durability?: 'none'
}

/**
 * Checks what one topic's share of a publish needs before any write, and returns the write; a
 * cluster broker sends the partitions other brokers lead to them (cluster/leader-writer.ts).
 * `encoded` holds the share's records as the log stores them, for a write made on this broker.
 */
export type PrepareTopicWrite = (
  topic: string,
  records: ProduceRecord[],
  acks: PublishAcks,
  encoded: EncodedRecords,
) => () => Promise<ProduceResult>

export interface PublishOptions {
  acks: PublishAcks
  /** Defaults to a produce on this broker. */
  prepare?: PrepareTopicWrite | undefined
  /** Counts records no binding matched (metrics). */
  onUnroutable?: ((exchange: string, count: number) => void) | undefined
  /** acks=0: a write that fails after the answer went can only be reported. */
  onUnconfirmedFailure?: ((err: unknown, exchange: string) => void) | undefined
}

type TopicGroup = { indexes: number[]; records: ProduceRecord[]; keys: Buffer[]; bodies: Buffer[] }

/**
 * Routes, checks and appends. Each record is stamped once, so its copies in several topics carry
 * the same timestamp, and the exchange's stats count a publish only once it is written.
 *
 * A publish that fails must write nothing (docs/http-api.md, "Errors"). `broker.produce` checks all
 * of one topic's records before appending any, but a publish is one produce per target topic, so a
 * record over the size limit, or a topic deleted since it was bound, would fail one produce after
 * the others had appended. Both are checked here for the whole publish, before the first append,
 * and a too-large record is named by its index in the publish (a produce knows only its index in
 * its topic's share). Backpressure and offline partitions are still checked per produce.
 */
export async function publish(
  broker: Broker,
  store: ExchangeBackend,
  exchange: string,
  records: ReadonlyArray<ProduceRecord & { routingKey: string }>,
  options: PublishOptions,
): Promise<PublishOutcome> {
  const { acks } = options
  const registry = store.registry
  const described = registry.get(exchange)
  const perTopic = new Map<string, TopicGroup>()
  const now = Date.now()
  const limit = broker.config.maxRecordBytes
  let unroutable = 0
  records.forEach((record, index) => {
    let topics = registry.match(exchange, record.routingKey)
    if (topics.length === 0) {
      unroutable++
      if (described.alternateTopic) topics = [described.alternateTopic]
    }
    if (topics.length === 0) return
    const { routingKey: _routingKey, ...fields } = record
    const plain: ProduceRecord = { ...fields, timestamp: fields.timestamp ?? now }
    const key = encodeKey(plain.key)
    const body = encodeRecordBody(plain, now, key)
    if (body.length > limit) {
      throw new PayloadTooLargeError(
        `record ${index} is ${body.length} bytes encoded; the limit is ${limit}`,
        {
          index,
          bytes: body.length,
          limit,
        },
      )
    }
    for (const topic of topics) {
      let group = perTopic.get(topic)
      if (!group) {
        group = { indexes: [], records: [], keys: [], bodies: [] }
        perTopic.set(topic, group)
      }
      group.indexes.push(index)
      group.records.push(plain)
      group.keys.push(key)
      group.bodies.push(body)
    }
  })
  // Bindings and alternate topics naming internal topics are refused when made; one made before
  // that rule must not let a publish write there either.
  for (const topic of perTopic.keys()) refuseInternalTopic(topic, 'a binding of the exchange')
  for (const topic of perTopic.keys()) broker.topics.get(topic)
  const prepare: PrepareTopicWrite =
    options.prepare ??
    ((topic, share, _acks, encoded) => () => broker.produce(topic, share, { acks, encoded }))
  const writes = [...perTopic].map(([topic, group]) => ({
    topic,
    group,
    write: prepare(topic, group.records, acks, { keys: group.keys, bodies: group.bodies }),
  }))
  const written = Promise.all(
    writes.map(async ({ topic, group, write }) => ({ topic, group, result: await write() })),
  ).then((confirms) => {
    // The exchange may have been deleted while the appends were in flight; the records are written.
    if (registry.has(exchange)) registry.count(exchange, records.length - unroutable, unroutable)
    if (unroutable > 0) options.onUnroutable?.(exchange, unroutable)
    return confirms
  })
  if (acks === 0) {
    written.catch((err: unknown) => options.onUnconfirmedFailure?.(err, exchange))
    return { results: [], durability: 'none' }
  }
  const results: PublishOutcome['results'] = records.map(() => ({ routed: [] }))
  for (const { topic, group, result } of await written) {
    group.indexes.forEach((recordIndex, k) => {
      const o = result.offsets[k]
      if (o) results[recordIndex]?.routed.push({ topic, partition: o.partition, offset: o.offset })
    })
  }
  return { results }
}
