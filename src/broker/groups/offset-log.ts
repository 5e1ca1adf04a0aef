/**
 * The `OffsetLog` of a running broker: the internal topic `__consumer_offsets`, created at start
 * when missing (retention -1: compaction, not age, decides what is obsolete), written with acks
 * "all" through the ordinary produce path and read back through the ordinary fetch path.
 */

import { wireUnpackr } from '../../wire/record-codec.js'
import type { Broker } from '../broker.js'
import {
  OFFSETS_TOPIC,
  OFFSETS_TOPIC_PARTITIONS,
  type OffsetLog,
  type OffsetLogRecord,
} from './offset-store.js'

/** Records per read while loading: a few MB per step, whatever the record size. */
const LOAD_BATCH_RECORDS = 5000
const LOAD_BATCH_BYTES = 4 * 1024 * 1024

interface DecodedFetch {
  records: Array<{ offset: number; key: unknown; value: unknown }>
  nextOffset: number
  highWatermark: number
}

export class BrokerOffsetLog implements OffsetLog {
  readonly #broker: Broker
  #partitions = OFFSETS_TOPIC_PARTITIONS

  constructor(broker: Broker) {
    this.#broker = broker
  }

  /** Creates the internal topic on first start; afterwards its partition count is whatever it was made with. */
  async open(): Promise<void> {
    if (!this.#broker.topics.has(OFFSETS_TOPIC)) {
      await this.#broker.createTopic({
        name: OFFSETS_TOPIC,
        partitions: OFFSETS_TOPIC_PARTITIONS,
        config: { retentionMs: -1, retentionBytes: -1 },
        internal: true,
      })
    }
    this.#partitions = this.#broker.topics.get(OFFSETS_TOPIC).partitions
  }

  partitions(): number {
    return this.#partitions
  }

  async append(partition: number, records: OffsetLogRecord[]): Promise<void> {
    await this.#broker.produce(OFFSETS_TOPIC, records, { acks: 'all', partition, internal: true })
  }

  async *readAll(partition: number): AsyncIterable<OffsetLogRecord> {
    // Cluster mode: a partition without a replica here belongs to another coordinator.
    if (this.#broker.cluster && !this.#broker.cluster.replicates(OFFSETS_TOPIC, partition)) return
    let offset = this.#broker.partitionState(OFFSETS_TOPIC, partition).logStartOffset
    for (;;) {
      const result = await this.#broker.fetch(OFFSETS_TOPIC, partition, {
        offset,
        maxRecords: LOAD_BATCH_RECORDS,
        maxBytes: LOAD_BATCH_BYTES,
        maxWaitMs: 0,
      })
      const body = wireUnpackr.unpack(result.body) as DecodedFetch
      for (const r of body.records) yield { key: r.key, value: r.value }
      if (body.records.length === 0 || body.nextOffset >= body.highWatermark) return
      offset = body.nextOffset
    }
  }
}
