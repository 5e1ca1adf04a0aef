/**
 * What the OpenAPI document says about each route beyond its validation schemas: a tag, a summary,
 * the success answer and the error codes the route itself can answer. Keyed like the permission
 * table (src/auth/route-permissions.ts); openapi-plugin.ts adds the codes every route of a kind
 * can answer (a body, credentials), and test/integration/openapi.test.ts fails for a route without
 * an entry here. docs/http-api.md is the prose for the same routes.
 */
import type { TSchema } from 'typebox'
import type { ErrorCode } from '../../errors.js'
import * as S from './response-schemas.js'

export interface RouteDoc {
  tag: string
  summary: string
  description?: string
  /** The success answer: its status, and its body (none for 204s and redirects). */
  ok: { status: number; description: string; schema?: TSchema; contentType?: string }
  /** acks 0: the same body, 202, before the write. */
  accepted?: boolean
  /** Codes the route answers beyond those every route of its kind can (openapi-plugin.ts). */
  errors: ErrorCode[]
}

/** What a write to a partition can meet once it is valid (backpressure, durability, the log). */
const WRITE_ERRORS: ErrorCode[] = [
  'TOPIC_NOT_FOUND',
  'PARTITION_NOT_FOUND',
  'INVALID_TOPIC_NAME',
  'PAYLOAD_TOO_LARGE',
  'NOT_LEADER',
  'THROTTLED',
  'MEMORY_ALARM',
  'DISK_ALARM',
  'NOT_ENOUGH_REPLICAS',
  'PARTITION_OFFLINE',
  'WORKER_FAILED',
  'STORAGE_ERROR',
  'ACK_TIMEOUT',
]
const READ_ERRORS: ErrorCode[] = [
  'TOPIC_NOT_FOUND',
  'PARTITION_NOT_FOUND',
  'INVALID_TOPIC_NAME',
  'OFFSET_OUT_OF_RANGE',
  'NOT_LEADER',
  'THROTTLED',
  'PARTITION_OFFLINE',
  'WORKER_FAILED',
  'STORAGE_ERROR',
]
/** A group route on a cluster answers NOT_LEADER from a broker that does not coordinate the group. */
const MEMBER_ERRORS: ErrorCode[] = ['GROUP_NOT_FOUND', 'MEMBER_NOT_FOUND', 'NOT_LEADER']

const noContent = (description: string) => ({ status: 204, description })

export const routeDocs: Readonly<Record<string, RouteDoc>> = {
  'GET /healthz': {
    tag: 'health',
    summary: 'The process serves',
    ok: { status: 200, description: '`{status: "ok"}`', schema: S.Status },
    errors: [],
  },
  'GET /readyz': {
    tag: 'health',
    summary: 'Recovery is done and writes are accepted',
    description:
      'Answers 503 `{status: "not ready", reasons}` (a status report, not an error) while not ready.',
    ok: { status: 200, description: '`{status: "ready"}`', schema: S.Status },
    errors: [],
  },
  'GET /metrics': {
    tag: 'health',
    summary: 'Prometheus metrics',
    description:
      'Text format (prom-client). With auth on it needs describe on the cluster unless --metrics-open.',
    ok: { status: 200, description: 'Prometheus text exposition format', contentType: 'text/plain' },
    errors: [],
  },
  'GET /openapi.json': {
    tag: 'docs',
    summary: 'This OpenAPI 3 document',
    ok: { status: 200, description: 'The OpenAPI document, always JSON' },
    errors: [],
  },
  'GET /': {
    tag: 'console',
    summary: 'Redirects to the console',
    ok: { status: 302, description: 'Location: /console' },
    errors: [],
  },
  'GET /console': {
    tag: 'console',
    summary: 'The web console (an HTML page)',
    ok: { status: 200, description: 'HTML', contentType: 'text/html' },
    errors: [],
  },
  'GET /console/uplot.js': {
    tag: 'console',
    summary: 'The charting library the console uses (uPlot, served from the package)',
    ok: { status: 200, description: 'JavaScript', contentType: 'text/javascript' },
    errors: [],
  },
  'GET /console/uplot.css': {
    tag: 'console',
    summary: 'The charting library’s style sheet',
    ok: { status: 200, description: 'CSS', contentType: 'text/css' },
    errors: [],
  },
  'GET /v1/console/stats': {
    tag: 'console',
    summary: 'The broker’s recent rates, lag and fsync latency (one sample every 5 s, the last hour)',
    ok: { status: 200, description: 'Samples over the chosen range' },
    errors: [],
  },
  'POST /console/login': {
    tag: 'console',
    summary: 'Starts a console session (cookie) from a user name and password',
    ok: {
      status: 200,
      description: 'The principal and the CSRF token; sets the session cookie',
      schema: S.ConsoleSession,
    },
    errors: ['UNAUTHENTICATED'],
  },
  'POST /console/logout': {
    tag: 'console',
    summary: 'Ends the console session',
    ok: noContent('Session ended; the cookie is cleared'),
    errors: [],
  },
  'GET /console/session': {
    tag: 'console',
    summary: 'Who the console session is',
    ok: { status: 200, description: 'The principal and its CSRF token', schema: S.ConsoleSession },
    errors: [],
  },
  'GET /v1/cluster': {
    tag: 'cluster',
    summary: 'Brokers and the controller',
    ok: { status: 200, description: 'The brokers this one knows', schema: S.ClusterDescription },
    errors: [],
  },
  'POST /v1/cluster/preferred-leader-election': {
    tag: 'cluster',
    summary: 'Hand partitions back to their preferred (first assigned) replica when it is alive and in sync',
    ok: {
      status: 200,
      description: 'One entry per partition considered',
      schema: S.PreferredLeaderElections,
    },
    errors: ['TOPIC_NOT_FOUND', 'PARTITION_NOT_FOUND', 'NOT_READY'],
  },
  'GET /v1/cluster/reassignments': {
    tag: 'cluster',
    summary: 'Partition reassignments under way',
    ok: { status: 200, description: 'One entry per partition being moved', schema: S.Reassignments },
    errors: [],
  },
  'POST /v1/cluster/reassignments': {
    tag: 'cluster',
    summary: 'Move partitions to new replica lists (new replicas catch up, then the old ones leave)',
    ok: {
      status: 200,
      description: 'The reassignments started (a partition already on its list is left out)',
      schema: S.Reassignments,
    },
    errors: [
      'INVALID_REQUEST',
      'TOPIC_NOT_FOUND',
      'PARTITION_NOT_FOUND',
      'PARTITION_LIMIT_REACHED',
      'NOT_READY',
    ],
  },
  'DELETE /v1/cluster/reassignments/:topic/:partition': {
    tag: 'cluster',
    summary: 'Cancel a reassignment: the partition goes back to its previous replicas',
    ok: { status: 200, description: 'The partition after the cancel', schema: S.ReassignmentDescription },
    errors: ['NOT_FOUND', 'INVALID_REQUEST', 'TOPIC_NOT_FOUND', 'PARTITION_NOT_FOUND', 'NOT_READY'],
  },
  'GET /v1/whoami': {
    tag: 'security',
    summary: 'The principal of the request',
    ok: { status: 200, description: 'Who is asking', schema: S.WhoAmI },
    errors: [],
  },

  'POST /v1/topics': {
    tag: 'topics',
    summary: 'Create a topic',
    ok: { status: 201, description: 'The new topic', schema: S.TopicDescription },
    errors: [
      'INVALID_TOPIC_NAME',
      'INVALID_CONFIG',
      'TOPIC_EXISTS',
      'PARTITION_LIMIT_REACHED',
      'NOT_ENOUGH_REPLICAS',
      'STORAGE_ERROR',
    ],
  },
  'GET /v1/topics': {
    tag: 'topics',
    summary: 'List the topics the principal may describe (internal topics never)',
    ok: { status: 200, description: 'The topics', schema: S.TopicList },
    errors: [],
  },
  'GET /v1/topics/:topic': {
    tag: 'topics',
    summary: 'Describe a topic: partitions, leaders, replicas, offsets',
    ok: { status: 200, description: 'The topic', schema: S.TopicDescription },
    errors: ['TOPIC_NOT_FOUND'],
  },
  'DELETE /v1/topics/:topic': {
    tag: 'topics',
    summary: 'Delete a topic and its data',
    ok: noContent('Deleted'),
    errors: ['TOPIC_NOT_FOUND', 'STORAGE_ERROR'],
  },
  'POST /v1/topics/:topic/records': {
    tag: 'records',
    summary: 'Produce records (publisher confirms)',
    description:
      'Partition: the record’s `partition`, else murmur2 of its key, else spread. acks "all" (default) answers once durable, 1 once written, 0 with 202 before the write.',
    ok: {
      status: 200,
      description: 'One offset per record and the durability reached (202 with acks 0)',
      schema: S.ProduceResult,
    },
    accepted: true,
    errors: [...WRITE_ERRORS, 'DUPLICATE_SEQUENCE'],
  },
  'POST /v1/topics/:topic/partitions/:partition/records': {
    tag: 'records',
    summary: 'Produce records to one partition',
    ok: {
      status: 200,
      description: 'One offset per record and the durability reached (202 with acks 0)',
      schema: S.ProduceResult,
    },
    accepted: true,
    errors: [...WRITE_ERRORS, 'DUPLICATE_SEQUENCE', 'OUT_OF_ORDER_SEQUENCE'],
  },
  'GET /v1/topics/:topic/partitions/:partition/records': {
    tag: 'records',
    summary: 'Fetch records from an offset (long poll with maxWaitMs)',
    description: 'Never past the high watermark. JSON readers get at most --max-json-fetch-bytes of records.',
    ok: {
      status: 200,
      description: 'Records from `offset` on, and where to read next',
      schema: S.FetchResult,
    },
    errors: READ_ERRORS,
  },
  'GET /v1/topics/:topic/partitions/:partition/offsets': {
    tag: 'records',
    summary: 'Look up an offset: earliest, latest, or by timestamp',
    ok: { status: 200, description: 'The offset', schema: S.OffsetResult },
    errors: [
      'TOPIC_NOT_FOUND',
      'PARTITION_NOT_FOUND',
      'INVALID_TOPIC_NAME',
      'NOT_LEADER',
      'PARTITION_OFFLINE',
      'WORKER_FAILED',
      'STORAGE_ERROR',
    ],
  },

  'POST /v1/groups/:group/members': {
    tag: 'groups',
    summary: 'Join a consumer group',
    ok: {
      status: 200,
      description: 'The member id, generation and assigned partitions',
      schema: S.JoinResult,
    },
    errors: ['INVALID_TOPIC_NAME', 'TOPIC_NOT_FOUND', 'GROUP_MAX_SIZE_REACHED', 'NOT_LEADER'],
  },
  'POST /v1/groups/:group/members/:member/heartbeat': {
    tag: 'groups',
    summary: 'Keep a member alive; learn of rebalances',
    ok: { status: 200, description: 'The current generation and assignment', schema: S.HeartbeatResult },
    errors: MEMBER_ERRORS,
  },
  'DELETE /v1/groups/:group/members/:member': {
    tag: 'groups',
    summary: 'Leave the group (triggers a rebalance)',
    ok: noContent('Left'),
    errors: MEMBER_ERRORS,
  },
  'GET /v1/groups/:group/members/:member/records': {
    tag: 'groups',
    summary: 'Fetch from the member’s partitions, from the committed offsets',
    ok: { status: 200, description: 'Records with their topic and partition', schema: S.GroupFetchResult },
    errors: [
      ...MEMBER_ERRORS,
      'REBALANCE_IN_PROGRESS',
      'THROTTLED',
      'PARTITION_OFFLINE',
      'WORKER_FAILED',
      'STORAGE_ERROR',
    ],
  },
  'POST /v1/groups/:group/members/:member/records': {
    tag: 'groups',
    summary: 'Commit the previous batch and fetch the next (ack + fetch in one round trip)',
    ok: { status: 200, description: 'Records with their topic and partition', schema: S.GroupFetchResult },
    errors: [
      ...MEMBER_ERRORS,
      'INVALID_TOPIC_NAME',
      'REBALANCE_IN_PROGRESS',
      'STALE_GENERATION',
      'OFFSET_OUT_OF_RANGE',
      'THROTTLED',
      'PARTITION_OFFLINE',
      'WORKER_FAILED',
      'STORAGE_ERROR',
    ],
  },
  'POST /v1/groups/:group/members/:member/seek': {
    tag: 'groups',
    summary: 'Move where the member reads its own partitions next',
    ok: noContent('Moved'),
    errors: [
      ...MEMBER_ERRORS,
      'INVALID_TOPIC_NAME',
      'STALE_GENERATION',
      'REBALANCE_IN_PROGRESS',
      'OFFSET_OUT_OF_RANGE',
    ],
  },
  'POST /v1/groups/:group/offsets': {
    tag: 'groups',
    summary: 'Commit offsets (the next record to consume)',
    ok: noContent('Committed'),
    errors: [
      ...MEMBER_ERRORS,
      'INVALID_TOPIC_NAME',
      'TOPIC_NOT_FOUND',
      'PARTITION_NOT_FOUND',
      'STALE_GENERATION',
      'REBALANCE_IN_PROGRESS',
      'GROUP_NOT_EMPTY',
      'OFFSET_OUT_OF_RANGE',
      'STORAGE_ERROR',
    ],
  },
  'GET /v1/groups/:group/offsets': {
    tag: 'groups',
    summary: 'Committed offsets, log end offsets and lag',
    ok: { status: 200, description: 'One entry per partition of the group’s topics', schema: S.GroupOffsets },
    errors: ['GROUP_NOT_FOUND', 'NOT_LEADER'],
  },
  'POST /v1/groups/:group/offsets/reset': {
    tag: 'groups',
    summary: 'Reset a group’s offsets on a topic (the group must have no members)',
    ok: { status: 200, description: 'The new committed offsets', schema: S.ResetResult },
    errors: ['INVALID_TOPIC_NAME', 'TOPIC_NOT_FOUND', 'GROUP_NOT_EMPTY', 'NOT_LEADER', 'STORAGE_ERROR'],
  },
  'PUT /v1/groups/:group/config': {
    tag: 'groups',
    summary: 'Poison records (maxDeliveries, deadLetterTopic) and offsetReset',
    ok: { status: 200, description: 'The group’s configuration', schema: S.GroupConfigResult },
    errors: ['INVALID_TOPIC_NAME', 'TOPIC_NOT_FOUND', 'NOT_LEADER', 'STORAGE_ERROR'],
  },
  'GET /v1/groups': {
    tag: 'groups',
    summary: 'List the groups the principal may describe',
    ok: { status: 200, description: 'The groups', schema: S.GroupList },
    errors: [],
  },
  'GET /v1/groups/:group': {
    tag: 'groups',
    summary: 'Describe a group: state, generation, members, assignments, lag',
    ok: { status: 200, description: 'The group', schema: S.GroupDescription },
    errors: ['GROUP_NOT_FOUND', 'NOT_LEADER'],
  },

  'POST /v1/exchanges': {
    tag: 'exchanges',
    summary: 'Create an exchange (direct, topic or fanout)',
    ok: { status: 201, description: 'The new exchange', schema: S.ExchangeDescription },
    errors: ['INVALID_TOPIC_NAME', 'TOPIC_NOT_FOUND', 'EXCHANGE_EXISTS', 'STORAGE_ERROR'],
  },
  'GET /v1/exchanges': {
    tag: 'exchanges',
    summary: 'List the exchanges the principal may describe',
    ok: { status: 200, description: 'The exchanges', schema: S.ExchangeList },
    errors: [],
  },
  'GET /v1/exchanges/:exchange': {
    tag: 'exchanges',
    summary: 'Describe an exchange: bindings and counts',
    ok: { status: 200, description: 'The exchange', schema: S.ExchangeDescription },
    errors: ['EXCHANGE_NOT_FOUND'],
  },
  'DELETE /v1/exchanges/:exchange': {
    tag: 'exchanges',
    summary: 'Delete an exchange',
    ok: noContent('Deleted'),
    errors: ['EXCHANGE_NOT_FOUND', 'STORAGE_ERROR'],
  },
  'POST /v1/exchanges/:exchange/bindings': {
    tag: 'exchanges',
    summary: 'Bind a topic to an exchange',
    ok: {
      status: 201,
      description: 'The exchange (200 when the binding already existed)',
      schema: S.ExchangeDescription,
    },
    errors: ['INVALID_TOPIC_NAME', 'EXCHANGE_NOT_FOUND', 'TOPIC_NOT_FOUND', 'STORAGE_ERROR'],
  },
  'DELETE /v1/exchanges/:exchange/bindings': {
    tag: 'exchanges',
    summary: 'Remove a binding (same body as the bind)',
    ok: noContent('Unbound'),
    errors: ['INVALID_TOPIC_NAME', 'EXCHANGE_NOT_FOUND', 'STORAGE_ERROR'],
  },
  'POST /v1/exchanges/:exchange/records': {
    tag: 'exchanges',
    summary: 'Publish records, routed by routing key onto the bound topics',
    ok: { status: 200, description: 'Where each record went (202 with acks 0)', schema: S.PublishResult },
    accepted: true,
    errors: ['EXCHANGE_NOT_FOUND', ...WRITE_ERRORS],
  },

  'GET /v1/replication/:topic/:partition': {
    tag: 'replication',
    summary: 'A follower fetches raw batches from the leader (cluster mode, brokers only)',
    ok: { status: 200, description: 'Record batches back to back', contentType: 'application/octet-stream' },
    errors: ['TOPIC_NOT_FOUND', 'PARTITION_NOT_FOUND', 'NOT_LEADER', 'OFFSET_OUT_OF_RANGE', 'STORAGE_ERROR'],
  },
  'GET /v1/replication/:topic/:partition/epochs/:epoch': {
    tag: 'replication',
    summary: 'Where a leader epoch ends in the leader’s log (cluster mode, brokers only)',
    ok: { status: 200, description: 'The epoch and its end offset', schema: S.EpochEnd },
    errors: ['TOPIC_NOT_FOUND', 'PARTITION_NOT_FOUND', 'NOT_LEADER'],
  },

  'POST /v1/replication/:topic/:partition/preferred-leader': {
    tag: 'replication',
    summary:
      'The controller asks a leader to hand over to its preferred replica (cluster mode, brokers only)',
    ok: {
      status: 200,
      description: 'Whether leadership moved, and why not',
      schema: S.PreferredLeaderHandover,
    },
    errors: ['TOPIC_NOT_FOUND', 'PARTITION_NOT_FOUND', 'NOT_LEADER'],
  },

  'GET /v1/users': {
    tag: 'security',
    summary: 'List users',
    ok: { status: 200, description: 'The users', schema: S.UserList },
    errors: [],
  },
  'POST /v1/users': {
    tag: 'security',
    summary: 'Create a user',
    ok: { status: 201, description: 'The user', schema: S.UserDescription },
    errors: ['STORAGE_ERROR'],
  },
  'GET /v1/users/:user': {
    tag: 'security',
    summary: 'Describe a user (yourself, or anyone as a superuser)',
    ok: { status: 200, description: 'The user', schema: S.UserDescription },
    errors: ['NOT_FOUND'],
  },
  'PUT /v1/users/:user': {
    tag: 'security',
    summary: 'Change a user’s password or superuser flag',
    ok: { status: 200, description: 'The user', schema: S.UserDescription },
    errors: ['NOT_FOUND', 'STORAGE_ERROR'],
  },
  'DELETE /v1/users/:user': {
    tag: 'security',
    summary: 'Delete a user and its tokens',
    ok: noContent('Deleted'),
    errors: ['NOT_FOUND', 'STORAGE_ERROR'],
  },
  'POST /v1/users/:user/tokens': {
    tag: 'security',
    summary: 'Create an API token (shown once)',
    ok: { status: 201, description: 'The token', schema: S.CreatedToken },
    errors: ['NOT_FOUND', 'STORAGE_ERROR'],
  },
  'DELETE /v1/users/:user/tokens/:token': {
    tag: 'security',
    summary: 'Revoke an API token by id',
    ok: noContent('Revoked'),
    errors: ['NOT_FOUND', 'STORAGE_ERROR'],
  },
  'GET /v1/acls': {
    tag: 'security',
    summary: 'List ACL rules',
    ok: { status: 200, description: 'The rules', schema: S.AclList },
    errors: [],
  },
  'POST /v1/acls': {
    tag: 'security',
    summary: 'Add an ACL rule',
    ok: { status: 201, description: 'The rule with its id', schema: S.AclDescription },
    errors: ['STORAGE_ERROR'],
  },
  'DELETE /v1/acls/:acl': {
    tag: 'security',
    summary: 'Remove an ACL rule',
    ok: noContent('Removed'),
    errors: ['NOT_FOUND', 'STORAGE_ERROR'],
  },
}
