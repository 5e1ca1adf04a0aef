/**
 * Where a group member starts reading a partition: the group's position, else its committed
 * offset. A committed offset past the partition's end means the log was truncated or the topic
 * re-created, and the group starts over per its reset policy — but only where that end is the
 * log's end: on a single broker, or on the replica that leads. A follower still catching up (a
 * broker just restarted, now coordinating again) or bounds learned at an earlier read lie behind
 * the committed offset, and starting over there re-delivered everything the group had committed.
 */
import { describe, expect, it } from 'vitest'
import type { Broker } from '../../../../src/broker/broker.js'
import { GroupReader } from '../../../../src/broker/groups/group-fetch.js'
import { Group } from '../../../../src/broker/groups/group-state.js'
import {
  type OffsetLog,
  type OffsetLogRecord,
  OffsetStore,
} from '../../../../src/broker/groups/offset-store.js'
import type { RemotePartitions } from '../../../../src/broker/groups/remote-partitions.js'
import type { PartitionState } from '../../../../src/workers/worker-messages.js'

class OneRecordLog implements OffsetLog {
  constructor(readonly record: OffsetLogRecord) {}
  partitions(): number {
    return 1
  }
  async append(): Promise<void> {}
  async *readAll(): AsyncIterable<OffsetLogRecord> {
    yield this.record
  }
}

async function storeWithCommit(offset: number): Promise<OffsetStore> {
  const store = new OffsetStore(
    new OneRecordLog({ key: { group: 'g', topic: 't', partition: 0 }, value: { offset, timestamp: 1 } }),
  )
  await store.load()
  return store
}

const tp = { topic: 't', partition: 0 }
const bounds = (extra: Partial<PartitionState>): PartitionState => ({
  topic: 't',
  partition: 0,
  logStartOffset: 0,
  logEndOffset: 60,
  highWatermark: 0,
  offline: undefined,
  ...extra,
})
const cluster = {} as RemotePartitions
const broker = {} as Broker

describe('GroupReader.position with a committed offset past the known end', () => {
  it('keeps the committed offset on a follower replica catching up, and for bounds learned earlier', async () => {
    const reader = new GroupReader(broker, await storeWithCommit(100), undefined, cluster)
    expect(reader.position(new Group('g'), tp, bounds({ replicaRole: 'follower', leaderEpoch: 2 }))).toBe(100)
    // A replica just opened after a restart has no role yet (high watermark 0).
    expect(reader.position(new Group('g'), tp, bounds({}))).toBe(100)
    // Bounds from the leader's last answer (a partition read remotely) carry no role.
    const remoteBounds = { logStartOffset: 0, highWatermark: 60, logEndOffset: 60 }
    expect(reader.position(new Group('g'), tp, remoteBounds)).toBe(100)
  })

  it('starts over where the end is the log end: the leading replica, or a single broker', async () => {
    const leading = new GroupReader(broker, await storeWithCommit(100), undefined, cluster)
    expect(leading.position(new Group('g'), tp, bounds({ replicaRole: 'leader', highWatermark: 60 }))).toBe(0)
    const single = new GroupReader(broker, await storeWithCommit(100))
    expect(single.position(new Group('g'), tp, bounds({ highWatermark: 60 }))).toBe(0)
  })
})
