/**
 * The leader's side of replication (cluster mode only; not part of the public API):
 *
 * - `GET /v1/replication/:topic/:partition?offset&replicaId&leaderEpoch&maxWaitMs&maxBytes`
 *   long-polls for new data and answers the raw batches from `offset` on, back to back, as
 *   `application/octet-stream`; the leader's high watermark, log end offset and epoch are headers.
 *   The offset a follower asks from is what it holds fsynced, so the leader counts it for the HW.
 * - `GET /v1/replication/:topic/:partition/epochs/:epoch?leaderEpoch&replicaId` → `{epoch, endOffset}`:
 *   Kafka's OffsetsForLeaderEpoch, where `epoch` ends in the leader's log.
 * - `POST /v1/replication/:topic/:partition/preferred-leader?leaderEpoch` → `{moved, reason?}`: the
 *   leader hands the partition to its preferred replica (preferred-leader election).
 *
 * A request naming another leader epoch than the current one is NOT_LEADER: the follower waits for
 * the metadata to settle before it fetches again.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { ReplicaHeaders } from '../../replication/replica-client.js'
import type { ReplicationManager } from '../../replication/replication-manager.js'
import { PartitionParams } from '../schemas/common.js'
import { clientGone } from './fetch.js'

const int = (minimum: number, maximum = Number.MAX_SAFE_INTEGER) => Type.Integer({ minimum, maximum })

const ReplicaFetchQuery = Type.Object(
  {
    offset: int(0),
    replicaId: int(0),
    leaderEpoch: int(0),
    maxWaitMs: Type.Optional(int(0, 60_000)),
    maxBytes: Type.Optional(int(1, 2 ** 31 - 1)),
  },
  { additionalProperties: false },
)

const EpochParams = Type.Object({
  topic: Type.String({ minLength: 1, maxLength: 249 }),
  partition: int(0, 1_000_000),
  epoch: int(0, 2 ** 31 - 1),
})

const PreferredLeaderQuery = Type.Object({ leaderEpoch: int(0) }, { additionalProperties: false })

const EpochQuery = Type.Object({ replicaId: int(0), leaderEpoch: int(0) }, { additionalProperties: false })

export async function replicaFetchRoutes(app: FastifyInstance, opts: { replication: ReplicationManager }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { replication } = opts

  r.get(
    '/v1/replication/:topic/:partition',
    { schema: { params: PartitionParams, querystring: ReplicaFetchQuery } },
    async (req, reply) => {
      const q = req.query
      const read = await replication.serveFetch(
        req.params.topic,
        req.params.partition,
        {
          offset: q.offset,
          replicaId: q.replicaId,
          leaderEpoch: q.leaderEpoch,
          maxWaitMs: q.maxWaitMs ?? 0,
          maxBytes: q.maxBytes ?? 1024 * 1024,
        },
        clientGone(reply),
      )
      return reply
        .header(ReplicaHeaders.highWatermark, String(read.highWatermark))
        .header(ReplicaHeaders.logStartOffset, String(read.logStartOffset))
        .header(ReplicaHeaders.logEndOffset, String(read.logEndOffset))
        .header(ReplicaHeaders.leaderEpoch, String(read.leaderEpoch))
        .type('application/octet-stream')
        .send(read.batches)
    },
  )

  r.get(
    '/v1/replication/:topic/:partition/epochs/:epoch',
    { schema: { params: EpochParams, querystring: EpochQuery } },
    async (req, reply) => {
      const answer = await replication.epochEnd(req.params.topic, req.params.partition, {
        epoch: req.params.epoch,
        leaderEpoch: req.query.leaderEpoch,
        replicaId: req.query.replicaId,
      })
      return reply.sendData(answer)
    },
  )

  r.post(
    '/v1/replication/:topic/:partition/preferred-leader',
    { schema: { params: PartitionParams, querystring: PreferredLeaderQuery } },
    async (req, reply) => {
      const move = await replication.handToPreferred(
        req.params.topic,
        req.params.partition,
        req.query.leaderEpoch,
      )
      return reply.sendData(move)
    },
  )
}
