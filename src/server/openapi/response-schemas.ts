/**
 * What the routes answer, as JSON Schema for the OpenAPI document only (route-docs.ts). They are
 * not attached to the routes: fastify would compile a serializer from a route's response schema,
 * and the routes render their own bodies (`sendData`, the fetch's MessagePack bytes).
 *
 * Shapes are those of the JSON rendering; in MessagePack the same fields carry bytes as `bin`,
 * 64-bit integers as int64/uint64 and timestamps as integers (docs/http-api.md, "MessagePack").
 */
import { Type } from 'typebox'
import { ErrorCodes } from '../../errors.js'

const Offset = Type.Integer({ minimum: 0, description: 'Offset in the partition (the first record is 0).' })
const Partition = Type.Integer({ minimum: 0 })
/** A record key or value: any JSON value; bytes are `{"$base64": "…"}`. */
const AnyValue = Type.Unknown({
  description: 'Any value, returned exactly as sent. Bytes read as JSON are `{"$base64": "…"}`.',
})
const Headers = Type.Record(Type.String(), Type.Unknown(), {
  description: 'Header name to a string or bytes (`{"$base64": "…"}` in JSON).',
})

export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object({
      code: Type.Unsafe<string>({
        type: 'string',
        enum: Object.keys(ErrorCodes),
        description: 'Programs decide on the code, never on the message.',
      }),
      message: Type.String({ description: 'What went wrong, for people.' }),
      details: Type.Optional(
        Type.Record(Type.String(), Type.Unknown(), {
          description: 'Depends on the code: `field` for validation, the leader URL for NOT_LEADER, …',
        }),
      ),
    }),
  },
  { description: 'Every error answer (docs/http-api.md, "Errors").' },
)

export const Status = Type.Object({ status: Type.String() })
export const NotReady = Type.Object({ status: Type.Literal('not ready'), reasons: Type.Array(Type.String()) })

export const PartitionDescription = Type.Object({
  partition: Partition,
  leader: Type.Integer({ description: 'Broker id of the leader.' }),
  replicas: Type.Array(Type.Integer()),
  isr: Type.Array(Type.Integer(), { description: 'In-sync replicas.' }),
  logStartOffset: Offset,
  logEndOffset: Offset,
  highWatermark: Type.Integer({ minimum: 0, description: 'Readers never read past it.' }),
  addingReplicas: Type.Optional(
    Type.Array(Type.Integer(), { description: 'While a reassignment runs: the replicas joining.' }),
  ),
  removingReplicas: Type.Optional(
    Type.Array(Type.Integer(), { description: 'While a reassignment runs: the replicas leaving.' }),
  ),
})

export const TopicDescription = Type.Object({
  name: Type.String(),
  partitions: Type.Array(PartitionDescription),
  replicationFactor: Type.Integer({ minimum: 1 }),
  config: Type.Record(Type.String(), Type.Integer(), { description: 'Only the settings given at creation.' }),
})

export const TopicList = Type.Object({ topics: Type.Array(TopicDescription) })

const Durability = Type.Union(
  ['none', 'written', 'fsynced', 'replicated'].map((d) => Type.Literal(d)),
  { description: 'What was reached before the answer (a receipt, not the policy asked for).' },
)

export const ProduceResult = Type.Object({
  offsets: Type.Array(Type.Object({ partition: Partition, offset: Offset }), {
    description: 'One per record, in request order (empty with acks 0).',
  }),
  durability: Durability,
})

export const FetchedRecord = Type.Object({
  offset: Offset,
  timestamp: Type.Integer({ description: 'Milliseconds since the epoch.' }),
  key: AnyValue,
  value: AnyValue,
  headers: Headers,
})

export const FetchResult = Type.Object({
  records: Type.Array(FetchedRecord),
  nextOffset: Offset,
  highWatermark: Offset,
  logStartOffset: Offset,
})

export const OffsetResult = Type.Object({ offset: Offset })

const Assignment = Type.Object({ topic: Type.String(), partition: Partition })

export const JoinResult = Type.Object({
  memberId: Type.String(),
  generation: Type.Integer({ minimum: 0 }),
  assignments: Type.Array(Assignment),
})

export const HeartbeatResult = Type.Object({
  generation: Type.Integer({ minimum: 0 }),
  assignments: Type.Array(Assignment),
  rebalancing: Type.Boolean({ description: 'True when the member must fetch its new assignment.' }),
})

export const GroupFetchResult = Type.Object({
  generation: Type.Integer({ minimum: 0 }),
  records: Type.Array(
    Type.Object({ topic: Type.String(), partition: Partition, ...FetchedRecord.properties }),
  ),
})

export const GroupOffset = Type.Object({
  topic: Type.String(),
  partition: Partition,
  committed: Type.Union([Offset, Type.Null()], {
    description: 'Next offset to consume; null: never committed.',
  }),
  logEndOffset: Offset,
  lag: Type.Integer({ minimum: 0 }),
})

export const GroupOffsets = Type.Object({ offsets: Type.Array(GroupOffset) })

export const ResetResult = Type.Object({
  offsets: Type.Array(Type.Object({ topic: Type.String(), partition: Partition, offset: Offset })),
})

const GroupConfig = Type.Object({
  maxDeliveries: Type.Optional(Type.Integer()),
  deadLetterTopic: Type.Optional(Type.String()),
  offsetReset: Type.Optional(Type.Union([Type.Literal('earliest'), Type.Literal('latest')])),
})

export const GroupConfigResult = Type.Object({ group: Type.String(), config: GroupConfig })

export const GroupDescription = Type.Object({
  group: Type.String(),
  state: Type.String({ description: '`empty`, `rebalancing` or `stable`.' }),
  generation: Type.Integer({ minimum: 0 }),
  members: Type.Array(
    Type.Object({
      memberId: Type.String(),
      topics: Type.Array(Type.String()),
      autoCommit: Type.Boolean(),
      sessionTimeoutMs: Type.Integer(),
      generation: Type.Integer(),
      assignments: Type.Array(Assignment),
      lag: Type.Integer({ minimum: 0 }),
      lastSeenMsAgo: Type.Integer({ minimum: 0 }),
    }),
  ),
  config: GroupConfig,
  lag: Type.Integer({ minimum: 0 }),
  offsets: Type.Array(GroupOffset),
})

export const GroupList = Type.Object({ groups: Type.Array(GroupDescription) })

export const ExchangeDescription = Type.Object({
  name: Type.String(),
  type: Type.Union([Type.Literal('direct'), Type.Literal('topic'), Type.Literal('fanout')]),
  alternateTopic: Type.Union([Type.String(), Type.Null()]),
  bindings: Type.Array(Type.Object({ topic: Type.String(), bindingKey: Type.String() })),
  stats: Type.Object({ routed: Type.Integer({ minimum: 0 }), unroutable: Type.Integer({ minimum: 0 }) }),
})

export const ExchangeList = Type.Object({ exchanges: Type.Array(ExchangeDescription) })

export const PublishResult = Type.Object({
  results: Type.Array(
    Type.Object({
      routed: Type.Array(Type.Object({ topic: Type.String(), partition: Partition, offset: Offset }), {
        description: 'Where the record went; empty when nothing (not even the alternate topic) took it.',
      }),
    }),
    { description: 'One per record, in request order.' },
  ),
})

export const ClusterDescription = Type.Object({
  brokers: Type.Array(Type.Object({ id: Type.Integer(), url: Type.String(), alive: Type.Boolean() })),
  controller: Type.Union([Type.Integer(), Type.Null()]),
})

export const PreferredLeaderElections = Type.Object({
  elections: Type.Array(
    Type.Object({
      topic: Type.String(),
      partition: Partition,
      preferredLeader: Type.Integer({ description: 'The first assigned replica.' }),
      leader: Type.Integer({ description: 'The leader after the election.' }),
      moved: Type.Boolean(),
      reason: Type.Optional(Type.String({ description: 'Why leadership did not move.' })),
    }),
  ),
})

const Reassignment = Type.Object({
  topic: Type.String(),
  partition: Partition,
  replicas: Type.Array(Type.Integer(), {
    description: 'Every broker holding the partition now: the target replicas, then those leaving.',
  }),
  targetReplicas: Type.Array(Type.Integer()),
  addingReplicas: Type.Array(Type.Integer({ description: 'Joining: catching up with the leader.' })),
  removingReplicas: Type.Array(Type.Integer({ description: 'Leaving once the joining ones are in sync.' })),
  leader: Type.Integer(),
  isr: Type.Array(Type.Integer()),
  throttleBytesPerSec: Type.Optional(Type.Integer()),
})
export const Reassignments = Type.Object({ reassignments: Type.Array(Reassignment) })
export const ReassignmentDescription = Reassignment

export const WhoAmI = Type.Object({
  name: Type.String(),
  superuser: Type.Boolean(),
  authentication: Type.Optional(
    Type.String({ description: '`off` when the broker runs without authentication.' }),
  ),
})

const User = Type.Object(
  {
    name: Type.String(),
    superuser: Type.Boolean(),
    hasPassword: Type.Boolean(),
    tokens: Type.Array(Type.Object({ id: Type.String(), label: Type.String(), createdAt: Type.Integer() })),
  },
  { description: 'A user; never its password or its tokens’ secrets.' },
)
export const UserDescription = User
export const UserList = Type.Object({ users: Type.Array(User) })

export const CreatedToken = Type.Object({
  id: Type.String(),
  label: Type.String(),
  createdAt: Type.Integer(),
  token: Type.String({ description: 'Shown this once only.' }),
})

const Acl = Type.Object({
  id: Type.String(),
  principal: Type.String(),
  operation: Type.String(),
  resourceType: Type.String(),
  patternType: Type.String(),
  name: Type.String(),
})
export const AclDescription = Acl
export const AclList = Type.Object({ acls: Type.Array(Acl) })

export const ConsoleSession = Type.Object({
  name: Type.String(),
  superuser: Type.Boolean(),
  csrfToken: Type.String({ description: 'Sent back as `x-csrf-token` on the console’s changes.' }),
  auth: Type.Boolean(),
})

export const PreferredLeaderHandover = Type.Object({
  moved: Type.Boolean(),
  reason: Type.Optional(Type.String()),
})

export const EpochEnd = Type.Object({ epoch: Type.Integer(), endOffset: Offset })
