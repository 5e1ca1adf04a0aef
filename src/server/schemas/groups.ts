/**
 * Schemas of the consumer-group routes (docs/http-api.md, "Consumer groups"). Group names follow
 * the topic name rule; member ids are the broker's UUIDs. Three optional fields go beyond the
 * original contract and keep its shapes working: `generation` on the heartbeat and on the POST
 * fetch (fence a member that missed a rebalance, as a commit does), `owned` in a join (the
 * partitions a member held before its coordinator changed, which it gets back), and `offsetReset`
 * in the group config (where a group with no committed offset starts: earliest by default). One route goes
 * beyond it: a member's seek, which moves where it reads its own partitions next (the client's
 * seek, nack and resume).
 */
import { Type } from 'typebox'
import { TopicName } from './common.js'

const Name = Type.String({ minLength: 1, maxLength: 249, pattern: '^[A-Za-z0-9._-]+$' })
const Offset = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })
const Generation = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })

export const GroupParams = Type.Object({ group: Name })

export const MemberParams = Type.Object({
  group: Name,
  member: Type.String({ minLength: 1, maxLength: 128 }),
})

const TopicPartition = Type.Object(
  { topic: TopicName, partition: Type.Integer({ minimum: 0, maximum: 1_000_000 }) },
  { additionalProperties: false },
)

export const JoinBody = Type.Object(
  {
    topics: Type.Array(TopicName, { minItems: 1, maxItems: 1000 }),
    sessionTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 })),
    autoCommit: Type.Optional(Type.Boolean()),
    /** Joining again after the coordinator changed: what the member held, to get it back. */
    owned: Type.Optional(Type.Array(TopicPartition, { maxItems: 10_000 })),
  },
  { additionalProperties: false },
)

/** The heartbeat needs no body; `{generation}` makes `rebalancing` compare against what the member holds. */
export const HeartbeatBody = Type.Object(
  { generation: Type.Optional(Generation) },
  { additionalProperties: false },
)

const TopicPartitionOffset = Type.Object(
  {
    topic: TopicName,
    partition: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    offset: Offset,
  },
  { additionalProperties: false },
)

/** Partitions of one commit: enough for any real group, small enough to be one record batch. */
const MAX_COMMIT_OFFSETS = 10_000

export const CommitBody = Type.Object(
  {
    memberId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    generation: Type.Optional(Generation),
    offsets: Type.Array(TopicPartitionOffset, { minItems: 1, maxItems: MAX_COMMIT_OFFSETS }),
  },
  { additionalProperties: false },
)

/** A member moves where it reads its own partitions next: backwards (redeliver) or forwards (skip). */
export const SeekBody = Type.Object(
  {
    generation: Type.Optional(Generation),
    offsets: Type.Array(TopicPartitionOffset, { minItems: 1, maxItems: MAX_COMMIT_OFFSETS }),
  },
  { additionalProperties: false },
)

function fetchLimits(maxWaitMs: number) {
  return {
    maxRecords: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    maxBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 })),
    maxWaitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: maxWaitMs })),
  }
}

export function groupFetchQuery(maxWaitMs: number) {
  return Type.Object(fetchLimits(maxWaitMs), { additionalProperties: false })
}

export function groupFetchBody(maxWaitMs: number) {
  return Type.Object(
    {
      commit: Type.Optional(Type.Array(TopicPartitionOffset, { maxItems: MAX_COMMIT_OFFSETS })),
      generation: Type.Optional(Generation),
      ...fetchLimits(maxWaitMs),
    },
    { additionalProperties: false },
  )
}

export const ResetBody = Type.Object(
  {
    topic: TopicName,
    to: Type.Union([
      Type.Literal('earliest'),
      Type.Literal('latest'),
      Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 }),
    ]),
  },
  { additionalProperties: false },
)

export const GroupConfigBody = Type.Object(
  {
    maxDeliveries: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    deadLetterTopic: Type.Optional(TopicName),
    offsetReset: Type.Optional(Type.Union([Type.Literal('earliest'), Type.Literal('latest')])),
  },
  { additionalProperties: false },
)
