/**
 * What every route needs, in one table keyed by fastify's method and route pattern.
 *
 * The auth plugin refuses to register a route that has no entry here (auth-plugin.ts), so a new
 * route can never be left open by omission; test/integration/auth/route-matrix.test.ts walks this
 * table and tries every route without credentials, with wrong ones, without the permission and
 * with it.
 *
 * - `public`: no credentials (health probes, the console page and its login, the API's description).
 * - `authenticated`: any principal (cluster metadata, who am I). List routes are here too and show
 *   only what the principal may describe.
 * - `superuser`: user and ACL management, replication between brokers.
 * - `self`: a user managing their own tokens (or a superuser managing anyone's); making one takes
 *   the password (or a session or certificate), not another token.
 * - `acl`: the permissions `needs` computes from the request's params and body.
 *
 * `audit` routes log their outcome (admin changes); denials are always logged.
 */
import { CLUSTER, type Permission } from './acl.js'

export interface RouteRequest {
  params: Record<string, unknown>
  body: unknown
}

/** What the rules may ask the broker about the request. */
export interface PermissionContext {
  /** The topics a group member subscribed to (empty when there is no such member here). */
  memberTopics(group: string, memberId: string): readonly string[]
  /** The topics a group reads: its members' subscriptions and the topics it has offsets on. */
  groupTopics(group: string): readonly string[]
}

export type RouteRule = { audit?: boolean } & (
  | { access: 'public' }
  | { access: 'authenticated' }
  | { access: 'superuser' }
  | {
      access: 'self'
      /**
       * Makes a new credential: not with an API token, or a leaked token could mint a successor
       * that outlives its revocation (Kafka's delegation tokens cannot create tokens either).
       */
      mintsCredentials?: boolean
    }
  | { access: 'acl'; needs: (req: RouteRequest, ctx: PermissionContext) => Permission[]; metrics?: boolean }
)

const str = (value: unknown): string => (typeof value === 'string' ? value : '')

const topic = (operation: Permission['operation'], name: unknown): Permission => ({
  operation,
  resourceType: 'topic',
  name: str(name),
})
const group = (operation: Permission['operation'], name: unknown): Permission => ({
  operation,
  resourceType: 'group',
  name: str(name),
})
const exchange = (operation: Permission['operation'], name: unknown): Permission => ({
  operation,
  resourceType: 'exchange',
  name: str(name),
})
const cluster = (operation: Permission['operation']): Permission => ({
  operation,
  resourceType: 'cluster',
  name: CLUSTER,
})

const field = (body: unknown, name: string): unknown =>
  typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined

/** The distinct strings of a list (a join's topics); anything else is left to validation. */
function names(list: unknown): string[] {
  return Array.isArray(list) ? [...new Set(list.filter((t): t is string => typeof t === 'string'))] : []
}

/** The distinct topics of a list of `{topic, …}` (commits), ignoring malformed entries (validation answers those). */
function topicsOf(list: unknown): string[] {
  if (!Array.isArray(list)) return []
  return [...new Set(list.map((o) => str(field(o, 'topic'))).filter((t) => t !== ''))]
}

/** A member reads its subscription: read on the group and on each topic it subscribed to. */
const memberRead = (req: RouteRequest, ctx: PermissionContext): Permission[] => [
  group('read', req.params.group),
  ...ctx.memberTopics(str(req.params.group), str(req.params.member)).map((t) => topic('read', t)),
  ...topicsOf(field(req.body, 'commit')).map((t) => topic('read', t)),
]

export const routePermissions: Readonly<Record<string, RouteRule>> = {
  'GET /healthz': { access: 'public' },
  'GET /readyz': { access: 'public' },
  'GET /': { access: 'public' },
  'GET /console': { access: 'public' },
  'GET /console/uplot.js': { access: 'public' },
  'GET /console/uplot.css': { access: 'public' },
  'POST /console/login': { access: 'public' },
  'POST /console/logout': { access: 'public' },
  'GET /console/session': { access: 'authenticated' },
  // The API's own description (src/server/openapi/): public, like the routes' shapes in docs/http-api.md.
  'GET /openapi.json': { access: 'public' },
  'GET /docs': { access: 'public' },
  'GET /docs/': { access: 'public' },
  'GET /docs/json': { access: 'public' },
  'GET /docs/yaml': { access: 'public' },
  'GET /docs/static/index.html': { access: 'public' },
  'GET /docs/static/swagger-initializer.js': { access: 'public' },
  'GET /docs/static/*': { access: 'public' },
  'GET /metrics': { access: 'acl', needs: () => [cluster('describe')], metrics: true },
  'GET /v1/console/stats': { access: 'acl', needs: () => [cluster('describe')] },
  'GET /v1/cluster': { access: 'authenticated' },
  'POST /v1/cluster/preferred-leader-election': {
    access: 'acl',
    needs: () => [cluster('alter')],
    audit: true,
  },
  'GET /v1/cluster/reassignments': { access: 'acl', needs: () => [cluster('describe')] },
  'POST /v1/cluster/reassignments': { access: 'acl', needs: () => [cluster('alter')], audit: true },
  'DELETE /v1/cluster/reassignments/:topic/:partition': {
    access: 'acl',
    needs: () => [cluster('alter')],
    audit: true,
  },
  'GET /v1/whoami': { access: 'authenticated' },

  'POST /v1/topics': { access: 'acl', needs: (r) => [topic('create', field(r.body, 'name'))], audit: true },
  'GET /v1/topics': { access: 'authenticated' },
  'GET /v1/topics/:topic': { access: 'acl', needs: (r) => [topic('describe', r.params.topic)] },
  'DELETE /v1/topics/:topic': { access: 'acl', needs: (r) => [topic('delete', r.params.topic)], audit: true },
  'POST /v1/topics/:topic/records': { access: 'acl', needs: (r) => [topic('write', r.params.topic)] },
  'POST /v1/topics/:topic/partitions/:partition/records': {
    access: 'acl',
    needs: (r) => [topic('write', r.params.topic)],
  },
  'GET /v1/topics/:topic/partitions/:partition/records': {
    access: 'acl',
    needs: (r) => [topic('read', r.params.topic)],
  },
  'GET /v1/topics/:topic/partitions/:partition/offsets': {
    access: 'acl',
    needs: (r) => [topic('describe', r.params.topic)],
  },

  'POST /v1/groups/:group/members': {
    access: 'acl',
    needs: (r) => [
      group('read', r.params.group),
      ...names(field(r.body, 'topics')).map((t) => topic('read', t)),
    ],
  },
  'POST /v1/groups/:group/members/:member/heartbeat': {
    access: 'acl',
    needs: (r) => [group('read', r.params.group)],
  },
  'DELETE /v1/groups/:group/members/:member': {
    access: 'acl',
    needs: (r) => [group('read', r.params.group)],
  },
  'GET /v1/groups/:group/members/:member/records': { access: 'acl', needs: memberRead },
  'POST /v1/groups/:group/members/:member/records': { access: 'acl', needs: memberRead },
  'POST /v1/groups/:group/members/:member/seek': {
    access: 'acl',
    needs: (r, ctx) => [
      ...memberRead(r, ctx),
      ...topicsOf(field(r.body, 'offsets')).map((t) => topic('read', t)),
    ],
  },
  'POST /v1/groups/:group/offsets': {
    access: 'acl',
    needs: (r) => [
      group('read', r.params.group),
      ...topicsOf(field(r.body, 'offsets')).map((t) => topic('read', t)),
    ],
  },
  'GET /v1/groups/:group/offsets': { access: 'acl', needs: (r) => [group('describe', r.params.group)] },
  'POST /v1/groups/:group/offsets/reset': {
    access: 'acl',
    needs: (r) => [group('alter', r.params.group), topic('read', field(r.body, 'topic'))],
    audit: true,
  },
  'PUT /v1/groups/:group/config': {
    access: 'acl',
    // Poison records go to the dead-letter topic: naming one is writing to it. They come from the
    // group's topics, and the config decides when a record is skipped or copied out: that needs read
    // on each of them, as resetting the group's offsets on one does.
    needs: (r, ctx) => {
      const deadLetter = field(r.body, 'deadLetterTopic')
      return [
        group('alter', r.params.group),
        ...ctx.groupTopics(str(r.params.group)).map((t) => topic('read', t)),
        ...(typeof deadLetter === 'string' ? [topic('write', deadLetter)] : []),
      ]
    },
    audit: true,
  },
  'GET /v1/groups': { access: 'authenticated' },
  'GET /v1/groups/:group': { access: 'acl', needs: (r) => [group('describe', r.params.group)] },

  'POST /v1/exchanges': {
    access: 'acl',
    // The alternate topic receives what no binding routes: creating one is binding to it.
    needs: (r) => {
      const alternate = field(r.body, 'alternateTopic')
      return [
        exchange('create', field(r.body, 'name')),
        ...(typeof alternate === 'string' ? [topic('write', alternate)] : []),
      ]
    },
    audit: true,
  },
  'GET /v1/exchanges': { access: 'authenticated' },
  'GET /v1/exchanges/:exchange': { access: 'acl', needs: (r) => [exchange('describe', r.params.exchange)] },
  'DELETE /v1/exchanges/:exchange': {
    access: 'acl',
    needs: (r) => [exchange('delete', r.params.exchange)],
    audit: true,
  },
  // Binding decides where publishes land: it needs the right to write there. A publish then needs
  // only write on the exchange, since its targets were authorised when they were bound.
  'POST /v1/exchanges/:exchange/bindings': {
    access: 'acl',
    needs: (r) => [exchange('alter', r.params.exchange), topic('write', field(r.body, 'topic'))],
    audit: true,
  },
  'DELETE /v1/exchanges/:exchange/bindings': {
    access: 'acl',
    needs: (r) => [exchange('alter', r.params.exchange)],
    audit: true,
  },
  'POST /v1/exchanges/:exchange/records': {
    access: 'acl',
    needs: (r) => [exchange('write', r.params.exchange)],
  },

  'GET /v1/replication/:topic/:partition': { access: 'superuser' },
  'GET /v1/replication/:topic/:partition/epochs/:epoch': { access: 'superuser' },
  'POST /v1/replication/:topic/:partition/preferred-leader': { access: 'superuser', audit: true },

  'GET /v1/users': { access: 'superuser' },
  'POST /v1/users': { access: 'superuser', audit: true },
  'GET /v1/users/:user': { access: 'self' },
  'PUT /v1/users/:user': { access: 'superuser', audit: true },
  'DELETE /v1/users/:user': { access: 'superuser', audit: true },
  'POST /v1/users/:user/tokens': { access: 'self', mintsCredentials: true, audit: true },
  'DELETE /v1/users/:user/tokens/:token': { access: 'self', audit: true },
  'GET /v1/acls': { access: 'superuser' },
  'POST /v1/acls': { access: 'superuser', audit: true },
  'DELETE /v1/acls/:acl': { access: 'superuser', audit: true },
}

export function routeKey(method: string, url: string): string {
  // fastify answers HEAD from the GET route: it needs what GET needs.
  return `${method === 'HEAD' ? 'GET' : method} ${url}`
}
