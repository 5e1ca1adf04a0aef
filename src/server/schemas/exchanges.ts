/** Schemas of the exchange routes (docs/http-api.md, "Exchanges"). */
import { Type } from 'typebox'
import { Acks, RecordSchema, TopicName } from './common.js'

export const ExchangeParams = Type.Object({ exchange: Type.String({ minLength: 1, maxLength: 249 }) })

export const CreateExchangeBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 249 }),
    type: Type.Union([Type.Literal('direct'), Type.Literal('topic'), Type.Literal('fanout')]),
    alternateTopic: Type.Optional(Type.Union([TopicName, Type.Null()])),
  },
  { additionalProperties: false },
)

export const BindingBody = Type.Object(
  {
    topic: TopicName,
    bindingKey: Type.Optional(Type.String({ maxLength: 255 })),
  },
  { additionalProperties: false },
)

const ExchangeRecord = Type.Object(
  {
    routingKey: Type.String({ maxLength: 255 }),
    key: Type.Optional(Type.Unknown()),
    value: Type.Unknown(),
    headers: RecordSchema.properties.headers,
    timestamp: RecordSchema.properties.timestamp,
  },
  { additionalProperties: false, required: ['routingKey', 'value'] },
)

export function publishBody(maxRecords: number) {
  return Type.Object(
    {
      records: Type.Array(ExchangeRecord, { minItems: 1, maxItems: maxRecords }),
      acks: Type.Optional(Acks),
    },
    { additionalProperties: false },
  )
}
