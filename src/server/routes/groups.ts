/**
 * Consumer groups over HTTP (docs/http-api.md, "Consumer groups"): join, heartbeat, leave, the member fetch
 * (GET, and POST that commits the previous batch first), a member's seek, commits, offsets and lag, reset, poison
 * record config, and descriptions. The coordinator does the work; this file maps HTTP onto it.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Broker } from '../../broker/broker.js'
import { tpKey } from '../../broker/groups/assignors.js'
import type { GroupCoordinator, GroupDescription } from '../../broker/groups/index.js'
import { refuseInternalTopic, refuseInternalTopics } from '../../broker/internal-topics.js'
import {
  CommitBody,
  GroupConfigBody,
  GroupParams,
  groupFetchBody,
  groupFetchQuery,
  HeartbeatBody,
  JoinBody,
  MemberParams,
  ResetBody,
  SeekBody,
} from '../schemas/groups.js'
import { budgetHold, clientGone, fetchByteLimit, sendFetchBody } from './fetch.js'

/** The member fetch's defaults, the same as the partition fetch's. */
const DEFAULT_MAX_RECORDS = 500
const DEFAULT_MAX_BYTES = 1024 * 1024

/** A POST whose fields are all optional may come without a body (`curl -XPOST …/heartbeat`). */
async function emptyBodyIsObject(req: FastifyRequest): Promise<void> {
  if (req.body === undefined || req.body === null) req.body = {}
}

/**
 * A group as one caller may see it: describing a group must not show the offsets, lag or
 * assignments of a topic the caller may not describe (Kafka's OffsetFetch filters the same way).
 */
function visibleTo(req: FastifyRequest, group: GroupDescription): GroupDescription {
  const mayDescribe = (topic: string) => req.mayDescribe('topic', topic)
  const offsets = group.offsets.filter((o) => mayDescribe(o.topic))
  if (offsets.length === group.offsets.length && group.members.every((m) => m.topics.every(mayDescribe)))
    return group
  const lagOf = new Map(offsets.map((o) => [tpKey(o), o.lag]))
  return {
    ...group,
    members: group.members.map((m) => {
      const assignments = m.assignments.filter((tp) => mayDescribe(tp.topic))
      return {
        ...m,
        topics: m.topics.filter(mayDescribe),
        assignments,
        lag: assignments.reduce((sum, tp) => sum + (lagOf.get(tpKey(tp)) ?? 0), 0),
      }
    }),
    lag: offsets.reduce((sum, o) => sum + o.lag, 0),
    offsets,
  }
}

export async function groupRoutes(app: FastifyInstance, opts: { groups: GroupCoordinator; broker: Broker }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { groups, broker } = opts
  const { maxWaitMsLimit } = broker.config

  r.post(
    '/v1/groups/:group/members',
    { schema: { params: GroupParams, body: JoinBody } },
    async (req, reply) => {
      refuseInternalTopics(req.body.topics, 'topics')
      refuseInternalTopics(req.body.owned?.map((o) => o.topic) ?? [], 'owned')
      return reply.sendData(groups.join(req.params.group, req.body))
    },
  )

  r.post(
    '/v1/groups/:group/members/:member/heartbeat',
    { schema: { params: MemberParams, body: HeartbeatBody }, preValidation: emptyBodyIsObject },
    async (req, reply) =>
      reply.sendData(groups.heartbeat(req.params.group, req.params.member, req.body?.generation)),
  )

  r.delete('/v1/groups/:group/members/:member', { schema: { params: MemberParams } }, async (req, reply) => {
    groups.leave(req.params.group, req.params.member)
    return reply.code(204).send()
  })

  r.get(
    '/v1/groups/:group/members/:member/records',
    { schema: { params: MemberParams, querystring: groupFetchQuery(maxWaitMsLimit) } },
    async (req, reply) => {
      const q = req.query
      const hold = budgetHold(reply, broker.fetchBudget)
      const body = await groups.fetch(req.params.group, req.params.member, {
        maxRecords: q.maxRecords ?? DEFAULT_MAX_RECORDS,
        maxBytes: fetchByteLimit(reply, q.maxBytes ?? DEFAULT_MAX_BYTES, broker.config),
        maxWaitMs: q.maxWaitMs ?? 0,
        signal: clientGone(reply),
        budget: hold,
      })
      return sendFetchBody(reply, body, hold)
    },
  )

  r.post(
    '/v1/groups/:group/members/:member/records',
    {
      schema: { params: MemberParams, body: groupFetchBody(maxWaitMsLimit) },
      preValidation: emptyBodyIsObject,
    },
    async (req, reply) => {
      const b = req.body
      refuseInternalTopics(b.commit?.map((o) => o.topic) ?? [], 'commit')
      const hold = budgetHold(reply, broker.fetchBudget)
      const body = await groups.fetch(req.params.group, req.params.member, {
        maxRecords: b.maxRecords ?? DEFAULT_MAX_RECORDS,
        maxBytes: fetchByteLimit(reply, b.maxBytes ?? DEFAULT_MAX_BYTES, broker.config),
        maxWaitMs: b.maxWaitMs ?? 0,
        commit: b.commit,
        generation: b.generation,
        signal: clientGone(reply),
        budget: hold,
      })
      return sendFetchBody(reply, body, hold)
    },
  )

  r.post(
    '/v1/groups/:group/members/:member/seek',
    { schema: { params: MemberParams, body: SeekBody } },
    async (req, reply) => {
      refuseInternalTopics(
        req.body.offsets.map((o) => o.topic),
        'offsets',
      )
      await groups.seek(req.params.group, req.params.member, req.body)
      return reply.code(204).send()
    },
  )

  r.post(
    '/v1/groups/:group/offsets',
    { schema: { params: GroupParams, body: CommitBody } },
    async (req, reply) => {
      refuseInternalTopics(
        req.body.offsets.map((o) => o.topic),
        'offsets',
      )
      await groups.commit(req.params.group, req.body)
      return reply.code(204).send()
    },
  )

  r.get('/v1/groups/:group/offsets', { schema: { params: GroupParams } }, async (req, reply) =>
    reply.sendData({
      offsets: groups.offsets(req.params.group).filter((o) => req.mayDescribe('topic', o.topic)),
    }),
  )

  r.post(
    '/v1/groups/:group/offsets/reset',
    { schema: { params: GroupParams, body: ResetBody } },
    async (req, reply) => {
      refuseInternalTopic(req.body.topic, 'topic')
      return reply.sendData({
        offsets: await groups.resetOffsets(req.params.group, req.body.topic, req.body.to),
      })
    },
  )

  r.put(
    '/v1/groups/:group/config',
    { schema: { params: GroupParams, body: GroupConfigBody } },
    async (req, reply) => {
      if (req.body.deadLetterTopic) refuseInternalTopic(req.body.deadLetterTopic, 'deadLetterTopic')
      return reply.sendData({
        group: req.params.group,
        config: await groups.setConfig(req.params.group, req.body),
      })
    },
  )

  r.get('/v1/groups', async (req, reply) =>
    reply.sendData({
      groups: groups
        .list()
        .filter((g) => req.mayDescribe('group', g.group))
        .map((g) => visibleTo(req, g)),
    }),
  )

  r.get('/v1/groups/:group', { schema: { params: GroupParams } }, async (req, reply) =>
    reply.sendData(visibleTo(req, groups.describe(req.params.group))),
  )
}
