/**
 * Schemas shared by the routes. Fastify validates params, query and body against them at the
 * edge (after the MessagePack parser decoded the body), and the types flow into handlers.
 * Limits that come from configuration (records per request) are applied by `buildSchemas`.
 */
import { Type } from 'typebox'

/**
 * A topic name wherever it appears (path, body): `[A-Za-z0-9._-]{1,249}`, not `.` or `..`.
 * `nameRule` makes a failure INVALID_TOPIC_NAME instead of INVALID_REQUEST (plugins/error-handler.ts).
 * The reserved `__` prefix is the broker's business, not the schema's (internal topics are
 * described by name, and refused elsewhere with FORBIDDEN).
 */
export const TopicName = Type.String({
  minLength: 1,
  maxLength: 249,
  pattern: '^(?!\\.\\.?$)[A-Za-z0-9._-]+$',
  nameRule: 'topic',
})

export const TopicParams = Type.Object({ topic: TopicName })

export const PartitionParams = Type.Object({
  topic: TopicName,
  partition: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
})

export const Acks = Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal('all')], {
  description: '"all" (default): answer once durable; 1: once the leader wrote; 0: 202 before the write.',
})

export const TopicConfigSchema = Type.Object(
  {
    retentionMs: Type.Optional(Type.Integer({ minimum: -1 })),
    retentionBytes: Type.Optional(Type.Integer({ minimum: -1 })),
    segmentBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 2 ** 31 - 1 })),
    segmentMs: Type.Optional(Type.Integer({ minimum: 1 })),
    minInsyncReplicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
  },
  { additionalProperties: false },
)

export const CreateTopicBody = Type.Object(
  {
    name: TopicName,
    partitions: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000, description: 'Default --default-partitions (1).' }),
    ),
    replicationFactor: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
    config: Type.Optional(TopicConfigSchema),
  },
  { additionalProperties: false },
)

export const RecordSchema = Type.Object(
  {
    key: Type.Optional(
      Type.Unknown({
        description: 'Any value; picks the partition (murmur2). Bytes in JSON: {"$base64": "…"}.',
      }),
    ),
    value: Type.Unknown({
      description: 'Any value, returned exactly as sent. Bytes in JSON: {"$base64": "…"}.',
    }),
    headers: Type.Optional(
      Type.Record(Type.String({ maxLength: 1024 }), Type.Unknown(), {
        maxProperties: 256,
        description: 'Name to a string or bytes.',
      }),
    ),
    timestamp: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 2 ** 53 - 1,
        description: 'Milliseconds since the epoch; default now.',
      }),
    ),
    partition: Type.Optional(Type.Integer({ minimum: 0, description: 'Overrides the key’s partition.' })),
  },
  { additionalProperties: false, required: ['value'] },
)

export function produceBody(maxRecords: number) {
  return Type.Object(
    {
      records: Type.Array(RecordSchema, { minItems: 1, maxItems: maxRecords }),
      acks: Type.Optional(Acks),
      producerId: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: Number.MAX_SAFE_INTEGER,
          description: 'With sequence: retries of a written batch answer its first offsets.',
        }),
      ),
      sequence: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 2 ** 31 - 1,
          description: 'The first record’s sequence number.',
        }),
      ),
    },
    { additionalProperties: false },
  )
}

export function fetchQuery(maxWaitMs: number) {
  return Type.Object(
    {
      offset: Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: 'First offset to read.',
      }),
      maxRecords: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 500 })),
      maxBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1, default: 1024 * 1024 })),
      maxWaitMs: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: maxWaitMs,
          default: 0,
          description: 'Long poll: wait this long for a record.',
        }),
      ),
    },
    { additionalProperties: false },
  )
}

export const OffsetsQuery = Type.Object(
  {
    at: Type.Optional(
      Type.String({
        pattern: '^(earliest|latest|[0-9]{1,16})$',
        default: 'latest',
        description: 'earliest, latest, or a timestamp in ms (the first batch with a record at or after it).',
      }),
    ),
  },
  { additionalProperties: false },
)
