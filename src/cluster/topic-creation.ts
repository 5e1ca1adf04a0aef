/**
 * Writes a new topic to etcd: its partition keys, then its topic key, so that every broker sees
 * the whole topic at once or nothing. etcd refuses a transaction of more than `--max-txn-ops`
 * (128 by default) operations, so a topic's partition keys go in chunks before the topic key; the
 * brokers act on a topic only once its topic key exists (they walk the topics, never the partition
 * keys alone), so the chunks written so far are invisible.
 *
 * A create first claims the name: `/strata/creating/<name>` on the creating broker's lease, taken
 * only while neither the topic nor another claim exists, and in the same transaction it deletes
 * whatever partition keys a create that died half-way left. Every chunk, and the topic key, is
 * written only while that claim is still ours (its mod revision), so two creates of one name never
 * mix their partitions, and a creator whose lease lapsed writes nothing more: its claim went with
 * the lease, and the next create of the name clears its chunks.
 */
import type { Etcd3 } from 'etcd3'
import { ClusterKeys, type ClusterTopic, type PartitionRecord } from './cluster-records.js'

/** Partition keys per transaction: below etcd's default `--max-txn-ops` of 128. */
export const PARTITION_KEYS_PER_TXN = 120

export type TopicWrite =
  | { outcome: 'created'; revision: number }
  /** The topic key exists: another create won. */
  | { outcome: 'exists' }
  /** Another broker is creating this name right now. */
  | { outcome: 'claimed' }
  /** Our claim is gone (our lease lapsed): no topic key was written. */
  | { outcome: 'lost' }

export async function writeNewTopic(
  client: Etcd3,
  leaseId: string,
  topic: ClusterTopic,
): Promise<TopicWrite> {
  const topicKey = ClusterKeys.topic(topic.name)
  const claimKey = ClusterKeys.creating(topic.name)
  const claim = await client
    .if(topicKey, 'Create', '==', 0)
    .and(claimKey, 'Create', '==', 0)
    .then(
      client
        .put(claimKey)
        .value(JSON.stringify({ name: topic.name }))
        .lease(leaseId),
      client.delete().prefix(ClusterKeys.partitionsOf(topic.name)),
    )
    .else(client.get(topicKey))
    .commit()
  if (!claim.succeeded) {
    const exists = (claim.responses[0]?.response_range?.kvs.length ?? 0) > 0
    return { outcome: exists ? 'exists' : 'claimed' }
  }
  const claimRevision = Number(claim.header.revision)
  const records = topic.assignment.map(
    (replicas): PartitionRecord => ({ leader: replicas[0] as number, leaderEpoch: 0, isr: replicas }),
  )
  for (let from = 0; from < records.length; from += PARTITION_KEYS_PER_TXN) {
    const puts = records
      .slice(from, from + PARTITION_KEYS_PER_TXN)
      .map((record, i) =>
        client.put(ClusterKeys.partition(topic.name, from + i)).value(JSON.stringify(record)),
      )
    const chunk = await client
      .if(topicKey, 'Create', '==', 0)
      .and(claimKey, 'Mod', '==', claimRevision)
      .then(...puts)
      .commit()
    if (!chunk.succeeded) return { outcome: 'lost' }
  }
  const done = await client
    .if(topicKey, 'Create', '==', 0)
    .and(claimKey, 'Mod', '==', claimRevision)
    .then(client.put(topicKey).value(JSON.stringify(topic)), client.delete().key(claimKey))
    .commit()
  return done.succeeded ? { outcome: 'created', revision: Number(done.header.revision) } : { outcome: 'lost' }
}
