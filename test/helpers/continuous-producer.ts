/**
 * Failover tests: the client library's Producer writing `{seq}` records without pause (32 sends in
 * flight), recording each confirm and each error, and the check that a partition's log holds every
 * confirmed record exactly once, at its confirmed offset, in send order.
 */
import { expect } from 'vitest'
import type { BrokerClient } from '../../src/client/broker-client.js'
import { Producer, type ProducerOptions } from '../../src/client/producer.js'

export interface Confirmed {
  seq: number
  partition: number
  offset: number
  /** When the confirm arrived (Date.now()). */
  at: number
}

export interface ContinuousProducer {
  readonly confirmed: Confirmed[]
  readonly failures: unknown[]
  /** Stops sending, waits for every send in flight, closes the producer (not the client). */
  stop(): Promise<void>
}

export function produceContinuously(
  client: BrokerClient,
  topic: string,
  options: ProducerOptions = { acks: 'all' },
): ContinuousProducer {
  const producer = new Producer(client, options)
  const confirmed: Confirmed[] = []
  const failures: unknown[] = []
  let stopping = false
  let sent = 0
  const inflight = new Set<Promise<void>>()
  const writer = (async () => {
    while (!stopping) {
      const seq = sent++
      const p = producer
        .send(topic, { value: { seq } })
        .then(([o]) => {
          const { partition, offset } = o as { partition: number; offset: number }
          confirmed.push({ seq, partition, offset, at: Date.now() })
        })
        .catch((err: unknown) => {
          failures.push(err)
        })
        .finally(() => inflight.delete(p))
      inflight.add(p)
      if (inflight.size >= 32) await Promise.race(inflight)
    }
    await Promise.all(inflight)
  })()
  return {
    confirmed,
    failures,
    async stop() {
      stopping = true
      await writer
      await producer.close()
    },
  }
}

/** No record twice (confirmed or not); each confirmed one at its offset; confirms in send order. */
export function expectExactlyOnceInOrder(
  log: ReadonlyArray<{ offset: number; value: unknown }>,
  confirmed: readonly Confirmed[],
): void {
  const bySeq = new Map<number, number[]>()
  for (const r of log) {
    const seq = (r.value as { seq: number }).seq
    bySeq.set(seq, [...(bySeq.get(seq) ?? []), r.offset])
  }
  for (const [seq, offsets] of bySeq) expect(offsets, `seq ${seq}`).toHaveLength(1)
  for (const c of confirmed) expect(bySeq.get(c.seq), `confirmed seq ${c.seq}`).toEqual([c.offset])
  const inSendOrder = [...confirmed].sort((a, b) => a.seq - b.seq)
  for (let i = 1; i < inSendOrder.length; i++) {
    expect(inSendOrder[i]?.offset).toBeGreaterThan(inSendOrder[i - 1]?.offset as number)
  }
}
