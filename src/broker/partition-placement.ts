/**
 * Which partition a record goes to: an explicit partition, else a stable hash of its key, else
 * one partition per request chosen round-robin ("sticky per request", as Kafka's sticky
 * partitioner, so a keyless request becomes one batch instead of N small ones).
 *
 * The key hash is Kafka's murmur2 over the key's MessagePack bytes, so the same key lands on the
 * same partition whether it was sent as JSON or MessagePack, and across broker restarts.
 */

export { murmur2, partitionForKey } from '../client/partitioner.js'

/** Round-robin start partition per topic for keyless requests. */
export class StickyPartitioner {
  readonly #next = new Map<string, number>()

  next(topic: string, partitions: number): number {
    const n = this.#next.get(topic) ?? Math.floor(Math.random() * partitions)
    this.#next.set(topic, (n + 1) % partitions)
    return n % partitions
  }
}
