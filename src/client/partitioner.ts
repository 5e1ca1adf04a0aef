/**
 * The key partitioner the broker uses (Kafka's murmur2 over the key's MessagePack bytes), here so
 * a producer places keyed records itself and sends each to its partition's leader: in a cluster no
 * single broker can place and write records whose partitions different brokers lead.
 */
import { Encodings, encodeBody } from './wire-codec.js'

/** Kafka's `Utils.murmur2` (seed 0x9747b28c), over a byte array. */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  const seed = 0x9747b28c
  const m = 0x5bd1e995
  const r = 24
  let h = seed ^ length
  const length4 = length >> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2
    let k =
      ((data[i4] as number) & 0xff) +
      (((data[i4 + 1] as number) & 0xff) << 8) +
      (((data[i4 + 2] as number) & 0xff) << 16) +
      (((data[i4 + 3] as number) & 0xff) << 24)
    k = Math.imul(k, m)
    k ^= k >>> r
    k = Math.imul(k, m)
    h = Math.imul(h, m)
    h ^= k
  }
  const tail = length4 << 2
  // The 1–3 tail bytes fold in from the highest down, as Kafka's fall-through switch does.
  const rest = length % 4
  if (rest === 3) h ^= ((data[tail + 2] as number) & 0xff) << 16
  if (rest >= 2) h ^= ((data[tail + 1] as number) & 0xff) << 8
  if (rest >= 1) {
    h ^= (data[tail] as number) & 0xff
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/** Kafka's `toPositive(murmur2(key)) % numPartitions`. */
export function partitionForKey(keyBytes: Uint8Array, partitions: number): number {
  return (murmur2(keyBytes) & 0x7fffffff) % partitions
}

/**
 * The partition of a keyed record, as the broker would choose it: the hash runs over the key's
 * MessagePack bytes, which for plain keys (strings, numbers, bytes, maps of those) are the bytes
 * the broker re-encodes the decoded key into.
 */
export function partitionForRecordKey(key: unknown, partitions: number): number {
  return partitionForKey(encodeBody(Encodings.MSGPACK, key), partitions)
}
