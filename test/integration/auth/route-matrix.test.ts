/**
 * Every route of the permission table (src/auth/route-permissions.ts), against a real broker with
 * --auth, four ways: no credentials, wrong credentials (a wrong password and a made-up token), a
 * principal without the permission, and a principal granted exactly what the table says the route
 * needs. The samples are keyed like the table and the test fails when the two differ, so a new
 * route cannot go untested. Replication routes exist only in a cluster: test/cluster/auth.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Permission } from '../../../src/auth/acl.js'
import { type RouteRule, routePermissions } from '../../../src/auth/route-permissions.js'
import type { BrokerProcess } from '../../helpers/broker-process.js'
import { type Auth, adminCall, call, grant, makeUser, startAuthBroker } from './auth-helpers.js'

const GRANTEE_PASSWORD = 'grantee-password'
const BOGUS_TOKEN = `strata_000000000000_${'A'.repeat(43)}`
const CLUSTER_ONLY = new Set([
  'GET /v1/replication/:topic/:partition',
  'GET /v1/replication/:topic/:partition/epochs/:epoch',
  'POST /v1/replication/:topic/:partition/preferred-leader',
])

interface Sample {
  path: string
  body?: unknown
  /** The status a permitted call gets. */
  expect: number
  /** What `ctx.memberTopics` answers for the member in the path. */
  memberTopics?: string[]
  /** What `ctx.groupTopics` answers for the group in the path. */
  groupTopics?: string[]
}

let broker: BrokerProcess
let url: string
let granteeToken: string
let bobToken: string

const join = async (group: string) => {
  const res = await adminCall(url, 'POST', `/v1/groups/${group}/members`, { topics: ['base'] }, 200)
  return res.body.memberId as string
}
const commit = (group: string) =>
  adminCall(
    url,
    'POST',
    `/v1/groups/${group}/offsets`,
    { offsets: [{ topic: 'base', partition: 0, offset: 0 }] },
    204,
  )

const samples: Record<string, (i: number) => Promise<Sample>> = {
  'GET /healthz': async () => ({ path: '/healthz', expect: 200 }),
  'GET /readyz': async () => ({ path: '/readyz', expect: 200 }),
  'GET /': async () => ({ path: '/', expect: 302 }),
  'GET /console': async () => ({ path: '/console', expect: 200 }),
  'GET /console/uplot.js': async () => ({ path: '/console/uplot.js', expect: 200 }),
  'GET /console/uplot.css': async () => ({ path: '/console/uplot.css', expect: 200 }),
  'GET /v1/console/stats': async () => ({ path: '/v1/console/stats?minutes=5', expect: 200 }),
  'POST /console/login': async () => ({
    path: '/console/login',
    body: { username: 'grantee', password: GRANTEE_PASSWORD },
    expect: 200,
  }),
  'POST /console/logout': async () => ({ path: '/console/logout', expect: 204 }),
  'GET /console/session': async () => ({ path: '/console/session', expect: 200 }),
  'GET /openapi.json': async () => ({ path: '/openapi.json', expect: 200 }),
  'GET /docs': async () => ({ path: '/docs', expect: 200 }),
  'GET /docs/': async () => ({ path: '/docs/', expect: 200 }),
  'GET /docs/json': async () => ({ path: '/docs/json', expect: 200 }),
  'GET /docs/yaml': async () => ({ path: '/docs/yaml', expect: 200 }),
  'GET /docs/static/index.html': async () => ({ path: '/docs/static/index.html', expect: 302 }),
  'GET /docs/static/swagger-initializer.js': async () => ({
    path: '/docs/static/swagger-initializer.js',
    expect: 200,
  }),
  'GET /docs/static/*': async () => ({ path: '/docs/static/swagger-ui.css', expect: 200 }),
  'GET /metrics': async () => ({ path: '/metrics', expect: 200 }),
  'GET /v1/cluster': async () => ({ path: '/v1/cluster', expect: 200 }),
  'POST /v1/cluster/preferred-leader-election': async () => ({
    path: '/v1/cluster/preferred-leader-election',
    body: {},
    expect: 200,
  }),
  'GET /v1/cluster/reassignments': async () => ({ path: '/v1/cluster/reassignments', expect: 200 }),
  // A single broker: its own id is the only replica list, and nothing is ever being moved.
  'POST /v1/cluster/reassignments': async () => ({
    path: '/v1/cluster/reassignments',
    body: { partitions: [{ topic: 'base', partition: 0, replicas: [0] }] },
    expect: 200,
  }),
  'DELETE /v1/cluster/reassignments/:topic/:partition': async () => ({
    path: '/v1/cluster/reassignments/base/0',
    expect: 404,
  }),
  'GET /v1/whoami': async () => ({ path: '/v1/whoami', expect: 200 }),
  'POST /v1/topics': async (i) => ({ path: '/v1/topics', body: { name: `new-${i}` }, expect: 201 }),
  'GET /v1/topics': async () => ({ path: '/v1/topics', expect: 200 }),
  'GET /v1/topics/:topic': async () => ({ path: '/v1/topics/base', expect: 200 }),
  'DELETE /v1/topics/:topic': async (i) => {
    await adminCall(url, 'POST', '/v1/topics', { name: `doomed-${i}` }, 201)
    return { path: `/v1/topics/doomed-${i}`, expect: 204 }
  },
  'POST /v1/topics/:topic/records': async () => ({
    path: '/v1/topics/base/records',
    body: { records: [{ value: 1 }] },
    expect: 200,
  }),
  'POST /v1/topics/:topic/partitions/:partition/records': async () => ({
    path: '/v1/topics/base/partitions/0/records',
    body: { records: [{ value: 2 }] },
    expect: 200,
  }),
  'GET /v1/topics/:topic/partitions/:partition/records': async () => ({
    path: '/v1/topics/base/partitions/0/records?offset=0',
    expect: 200,
  }),
  'GET /v1/topics/:topic/partitions/:partition/offsets': async () => ({
    path: '/v1/topics/base/partitions/0/offsets?at=latest',
    expect: 200,
  }),
  'POST /v1/groups/:group/members': async (i) => ({
    path: `/v1/groups/join-${i}/members`,
    body: { topics: ['base'] },
    expect: 200,
  }),
  'POST /v1/groups/:group/members/:member/heartbeat': async (i) => ({
    path: `/v1/groups/hb-${i}/members/${await join(`hb-${i}`)}/heartbeat`,
    body: {},
    expect: 200,
  }),
  'DELETE /v1/groups/:group/members/:member': async (i) => ({
    path: `/v1/groups/leave-${i}/members/${await join(`leave-${i}`)}`,
    expect: 204,
  }),
  'GET /v1/groups/:group/members/:member/records': async (i) => ({
    path: `/v1/groups/get-${i}/members/${await join(`get-${i}`)}/records?maxWaitMs=0`,
    expect: 200,
    memberTopics: ['base'],
  }),
  'POST /v1/groups/:group/members/:member/records': async (i) => ({
    path: `/v1/groups/post-${i}/members/${await join(`post-${i}`)}/records`,
    body: { maxWaitMs: 0 },
    expect: 200,
    memberTopics: ['base'],
  }),
  'POST /v1/groups/:group/members/:member/seek': async (i) => ({
    path: `/v1/groups/seek-${i}/members/${await join(`seek-${i}`)}/seek`,
    body: { offsets: [{ topic: 'base', partition: 0, offset: 0 }] },
    expect: 204,
    memberTopics: ['base'],
  }),
  'POST /v1/groups/:group/offsets': async (i) => ({
    path: `/v1/groups/commit-${i}/offsets`,
    body: { offsets: [{ topic: 'base', partition: 0, offset: 1 }] },
    expect: 204,
  }),
  'GET /v1/groups/:group/offsets': async (i) => {
    await commit(`offsets-${i}`)
    return { path: `/v1/groups/offsets-${i}/offsets`, expect: 200 }
  },
  'POST /v1/groups/:group/offsets/reset': async (i) => {
    await commit(`reset-${i}`)
    return {
      path: `/v1/groups/reset-${i}/offsets/reset`,
      body: { topic: 'base', to: 'earliest' },
      expect: 200,
    }
  },
  'PUT /v1/groups/:group/config': async (i) => {
    await commit(`config-${i}`)
    return {
      path: `/v1/groups/config-${i}/config`,
      body: { maxDeliveries: 5, deadLetterTopic: 'dead' },
      expect: 200,
      groupTopics: ['base'],
    }
  },
  'GET /v1/groups': async () => ({ path: '/v1/groups', expect: 200 }),
  'GET /v1/groups/:group': async (i) => {
    await commit(`describe-${i}`)
    return { path: `/v1/groups/describe-${i}`, expect: 200 }
  },
  'POST /v1/exchanges': async (i) => ({
    path: '/v1/exchanges',
    body: { name: `ex-new-${i}`, type: 'direct', alternateTopic: 'base' },
    expect: 201,
  }),
  'GET /v1/exchanges': async () => ({ path: '/v1/exchanges', expect: 200 }),
  'GET /v1/exchanges/:exchange': async () => ({ path: '/v1/exchanges/ex-base', expect: 200 }),
  'DELETE /v1/exchanges/:exchange': async (i) => {
    await adminCall(url, 'POST', '/v1/exchanges', { name: `ex-del-${i}`, type: 'direct' }, 201)
    return { path: `/v1/exchanges/ex-del-${i}`, expect: 204 }
  },
  'POST /v1/exchanges/:exchange/bindings': async (i) => {
    await adminCall(url, 'POST', '/v1/exchanges', { name: `ex-bind-${i}`, type: 'direct' }, 201)
    return {
      path: `/v1/exchanges/ex-bind-${i}/bindings`,
      body: { topic: 'base', bindingKey: 'z' },
      expect: 201,
    }
  },
  'DELETE /v1/exchanges/:exchange/bindings': async (i) => {
    await adminCall(url, 'POST', '/v1/exchanges', { name: `ex-unbind-${i}`, type: 'direct' }, 201)
    await adminCall(
      url,
      'POST',
      `/v1/exchanges/ex-unbind-${i}/bindings`,
      { topic: 'base', bindingKey: 'z' },
      201,
    )
    return {
      path: `/v1/exchanges/ex-unbind-${i}/bindings`,
      body: { topic: 'base', bindingKey: 'z' },
      expect: 204,
    }
  },
  'POST /v1/exchanges/:exchange/records': async () => ({
    path: '/v1/exchanges/ex-base/records',
    body: { records: [{ routingKey: 'k', value: 3 }] },
    expect: 200,
  }),
  'GET /v1/users': async () => ({ path: '/v1/users', expect: 200 }),
  'POST /v1/users': async (i) => ({
    path: '/v1/users',
    body: { name: `user-${i}`, password: 'password-1' },
    expect: 201,
  }),
  'GET /v1/users/:user': async () => ({ path: '/v1/users/grantee', expect: 200 }),
  'PUT /v1/users/:user': async (i) => {
    await adminCall(url, 'POST', '/v1/users', { name: `put-${i}`, password: 'password-1' }, 201)
    return { path: `/v1/users/put-${i}`, body: { password: 'password-2' }, expect: 200 }
  },
  'DELETE /v1/users/:user': async (i) => {
    await adminCall(url, 'POST', '/v1/users', { name: `del-${i}` }, 201)
    return { path: `/v1/users/del-${i}`, expect: 204 }
  },
  'POST /v1/users/:user/tokens': async () => ({
    path: '/v1/users/grantee/tokens',
    body: { label: 'ci' },
    expect: 201,
  }),
  'DELETE /v1/users/:user/tokens/:token': async () => {
    const made = await adminCall(url, 'POST', '/v1/users/grantee/tokens', { label: 'doomed' }, 201)
    return { path: `/v1/users/grantee/tokens/${made.body.id}`, expect: 204 }
  },
  'GET /v1/acls': async () => ({ path: '/v1/acls', expect: 200 }),
  'POST /v1/acls': async () => ({
    path: '/v1/acls',
    body: { principal: 'bob', operation: 'read', resourceType: 'topic', name: 'nothing-yet' },
    expect: 201,
  }),
  'DELETE /v1/acls/:acl': async () => {
    const id = await grant(url, 'bob', 'read', 'topic', 'nothing-at-all')
    return { path: `/v1/acls/${id}`, expect: 204 }
  },
}

/** The route's params, read off the concrete path with the route's pattern. */
function paramsOf(pattern: string, path: string): Record<string, string> {
  const want = pattern.split('/')
  const got = (path.split('?')[0] as string).split('/')
  const params: Record<string, string> = {}
  want.forEach((segment, i) => {
    if (segment.startsWith(':')) params[segment.slice(1)] = decodeURIComponent(got[i] as string)
  })
  return params
}

function permissionsFor(rule: RouteRule, pattern: string, sample: Sample): Permission[] {
  if (rule.access !== 'acl') return []
  return rule.needs(
    { params: paramsOf(pattern, sample.path), body: sample.body },
    { memberTopics: () => sample.memberTopics ?? [], groupTopics: () => sample.groupTopics ?? [] },
  )
}

beforeAll(async () => {
  broker = await startAuthBroker()
  url = broker.url
  granteeToken = await makeUser(url, 'grantee', GRANTEE_PASSWORD)
  bobToken = await makeUser(url, 'bob', 'bob-password')
  await adminCall(url, 'POST', '/v1/topics', { name: 'base' }, 201)
  await adminCall(url, 'POST', '/v1/topics', { name: 'dead' }, 201)
  await adminCall(url, 'POST', '/v1/topics/base/records', { records: [{ value: 0 }] }, 200)
  await adminCall(url, 'POST', '/v1/exchanges', { name: 'ex-base', type: 'direct' }, 201)
  await adminCall(url, 'POST', '/v1/exchanges/ex-base/bindings', { topic: 'base', bindingKey: 'k' }, 201)
}, 60_000)

afterAll(async () => {
  await broker?.stop()
})

describe('the route table', () => {
  it('has a sample for every route, and nothing else', () => {
    const tested = new Set([...Object.keys(samples), ...CLUSTER_ONLY])
    expect([...tested].sort()).toEqual(Object.keys(routePermissions).sort())
  })
})

describe('every route with --auth', () => {
  const keys = Object.keys(routePermissions).filter((key) => !CLUSTER_ONLY.has(key))
  keys.forEach((key, i) => {
    it(`${key}: no credentials, wrong ones, without permission, with permission`, async () => {
      const rule = routePermissions[key] as RouteRule
      const [method, pattern] = key.split(' ') as [string, string]
      const sample = await (samples[key] as (i: number) => Promise<Sample>)(i)
      const send = (auth: Auth) => call(url, method, sample.path, { auth, body: sample.body })
      const open = rule.access === 'public'

      for (const auth of [
        undefined,
        { basic: ['grantee', 'not-the-password'] },
        { bearer: BOGUS_TOKEN },
      ] as Auth[]) {
        const res = await send(auth)
        if (open) {
          expect(res.status, JSON.stringify(res.body)).toBe(sample.expect)
        } else {
          expect(res.status).toBe(401)
          expect(res.body.error.code).toBe('UNAUTHENTICATED')
          expect(res.headers.get('www-authenticate')).toBe('Basic realm="strata", Bearer realm="strata"')
        }
      }

      // bob holds no ACLs at all; a `self` route is tried on grantee's account.
      const withoutPermission = await send({ bearer: bobToken })
      if (open || rule.access === 'authenticated') {
        expect(withoutPermission.status, JSON.stringify(withoutPermission.body)).toBe(sample.expect)
      } else {
        expect(withoutPermission.status, JSON.stringify(withoutPermission.body)).toBe(403)
        expect(withoutPermission.body.error.code).toBe('FORBIDDEN')
      }

      // Exactly what the table says the route needs, and nothing more.
      const needed = permissionsFor(rule, pattern, sample)
      const aclIds: string[] = []
      for (const p of needed) aclIds.push(await grant(url, 'grantee', p.operation, p.resourceType, p.name))
      const permitted = await send(
        rule.access === 'superuser'
          ? { basic: ['admin', 'admin-secret-1'] }
          : rule.access === 'self' && rule.mintsCredentials
            ? { basic: ['grantee', GRANTEE_PASSWORD] }
            : { bearer: granteeToken },
      )
      expect(permitted.status, JSON.stringify(permitted.body)).toBe(sample.expect)
      // The same permission needed twice is one ACL.
      for (const id of new Set(aclIds)) await adminCall(url, 'DELETE', `/v1/acls/${id}`, undefined, 204)
    })
  })
})
