/**
 * Attacks on a real broker with --auth: ways around the permission table (src/auth/route-permissions.ts)
 * and the internal-topic guard that a client could try with nothing but HTTP. Each test names the
 * attack; the permitted paths themselves are route-matrix.test.ts and acls.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BrokerProcess } from '../../helpers/broker-process.js'
import { admin, adminCall, call, grant, makeUser, startAuthBroker } from './auth-helpers.js'

let broker: BrokerProcess
let url: string
let aliceToken: string
let bobToken: string

const asAlice = (method: string, path: string, body?: unknown) =>
  call(url, method, path, { auth: { bearer: aliceToken }, body })

beforeAll(async () => {
  broker = await startAuthBroker()
  url = broker.url
  aliceToken = await makeUser(url, 'alice', 'alice-password')
  bobToken = await makeUser(url, 'bob', 'bob-password')
  await adminCall(url, 'POST', '/v1/topics', { name: 'orders', partitions: 1 }, 201)
  await adminCall(url, 'POST', '/v1/topics', { name: 'secret', partitions: 1 }, 201)
}, 60_000)

afterAll(async () => {
  await broker?.stop()
})

describe('path tricks', () => {
  it('a percent-encoded internal topic name is decoded before the internal-topic guard, even for a superuser', async () => {
    const fetched = await adminCall(
      url,
      'GET',
      '/v1/topics/%5F%5Fconsumer_offsets/partitions/0/records?offset=0',
      undefined,
      403,
    )
    expect(fetched.body.error.code).toBe('FORBIDDEN')
    const produced = await adminCall(
      url,
      'POST',
      '/v1/topics/%5f%5fconsumer_offsets/partitions/0/records',
      { records: [{ value: 'forged offset' }] },
      403,
    )
    expect(produced.body.error.code).toBe('FORBIDDEN')
  })

  it('trailing slashes, double slashes and upper case do not reach a superuser-only route as a non-superuser', async () => {
    for (const path of ['/v1/acls/', '//v1/acls', '/v1//acls', '/V1/ACLS', '/v1/acls?x=/v1/whoami']) {
      const res = await asAlice('GET', path)
      expect([403, 404], path).toContain(res.status)
      expect(res.body.error.code, path).toBe(res.status === 403 ? 'FORBIDDEN' : 'NOT_FOUND')
      expect(JSON.stringify(res.body), path).not.toContain('admin')
    }
  })

  it('an unknown route is 401 without credentials and 404 with them, HEAD and OPTIONS alike', async () => {
    for (const method of ['GET', 'POST', 'OPTIONS', 'PATCH']) {
      const anonymous = await call(url, method, '/v1/no-such-route')
      expect(anonymous.status, method).toBe(401)
      expect(anonymous.body.error.code, method).toBe('UNAUTHENTICATED')
      const known = await asAlice(method, '/v1/no-such-route')
      expect(known.status, method).toBe(404)
    }
    const head = await call(url, 'HEAD', '/v1/topics/secret/partitions/0/records?offset=0', {
      auth: { bearer: aliceToken },
    })
    expect(head.status).toBe(403)
  })

  it('a duplicated query parameter (?offset=0&offset=5) is 400, not one of the two picked silently', async () => {
    const res = await adminCall(
      url,
      'GET',
      '/v1/topics/orders/partitions/0/records?offset=0&offset=5',
      undefined,
      400,
    )
    expect(res.body.error.code).toBe('INVALID_REQUEST')
  })
})

describe('internal topics named in a body', () => {
  it('every route that names a topic in its body refuses an internal one, even for a superuser', async () => {
    const internal = '__consumer_offsets'
    await adminCall(url, 'POST', '/v1/exchanges', { name: 'probe-ex', type: 'direct' }, 201)
    const joined = await adminCall(url, 'POST', '/v1/groups/probe/members', { topics: ['orders'] }, 200)
    const member = joined.body.memberId as string
    const offsets = [{ topic: internal, partition: 0, offset: 0 }]
    const attempts: Array<[string, string, unknown]> = [
      ['POST', '/v1/topics', { name: '__evil', partitions: 1 }],
      ['POST', '/v1/exchanges', { name: 'probe-alt', type: 'direct', alternateTopic: internal }],
      ['POST', '/v1/exchanges/probe-ex/bindings', { topic: internal, bindingKey: 'k' }],
      ['POST', '/v1/groups/probe/members', { topics: ['orders', internal] }],
      [
        'POST',
        '/v1/groups/probe/members',
        { topics: ['orders'], owned: [{ topic: internal, partition: 0 }] },
      ],
      ['POST', '/v1/groups/probe/offsets', { offsets }],
      ['POST', `/v1/groups/probe/members/${member}/records`, { commit: offsets }],
      ['POST', `/v1/groups/probe/members/${member}/seek`, { offsets }],
      ['POST', '/v1/groups/probe/offsets/reset', { topic: internal, to: 'earliest' }],
      ['PUT', '/v1/groups/probe/config', { deadLetterTopic: internal, maxDeliveries: 3 }],
      ['DELETE', `/v1/topics/${internal}`, undefined],
    ]
    for (const [method, path, body] of attempts) {
      const res = await call(url, method, path, { auth: admin, body })
      const expected = path === '/v1/topics' ? [400, 'INVALID_TOPIC_NAME'] : [403, 'FORBIDDEN']
      expect([res.status, res.body.error.code], `${method} ${path}`).toEqual(expected)
    }
    const published = await adminCall(url, 'POST', '/v1/exchanges/probe-ex/records', {
      records: [{ routingKey: 'k', value: 'x' }],
    })
    expect(published.body.results).toEqual([{ routed: [] }])
  })
})

describe('credentials', () => {
  it('malformed Authorization headers are 401: Basic without a colon, Basic with an empty user, an empty Bearer, another scheme', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64')
    for (const authorization of [
      `Basic ${b64('admin')}`,
      `Basic ${b64(':admin-secret-1')}`,
      'Basic',
      'Bearer',
      'Bearer    ',
      `Digest ${b64('admin:admin-secret-1')}`,
    ]) {
      const res = await call(url, 'GET', '/v1/whoami', { headers: { authorization } })
      expect(res.status, authorization).toBe(401)
      expect(res.body.error.code, authorization).toBe('UNAUTHENTICATED')
    }
  })

  it('a wrong Authorization header next to a live console session is 401, not the session', async () => {
    const login = await call(url, 'POST', '/console/login', {
      body: { username: 'admin', password: 'admin-secret-1' },
    })
    expect(login.status).toBe(200)
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string
    expect((await call(url, 'GET', '/v1/whoami', { headers: { cookie } })).body.name).toBe('admin')
    const mixed = await call(url, 'GET', '/v1/whoami', {
      headers: { cookie, authorization: `Bearer ${bobToken}x` },
    })
    expect(mixed.status).toBe(401)
  })

  it('a leaked API token cannot mint itself a successor that outlives its revocation', async () => {
    const leaked = await adminCall(url, 'POST', '/v1/users/bob/tokens', { label: 'leaked' }, 201)
    const minted = await call(url, 'POST', '/v1/users/bob/tokens', {
      auth: { bearer: leaked.body.token },
      body: { label: 'persistence' },
    })
    expect(minted.status).toBe(403)
    expect(minted.body.error.code).toBe('FORBIDDEN')
    // The owner, with the password, still can.
    const own = await call(url, 'POST', '/v1/users/bob/tokens', {
      auth: { basic: ['bob', 'bob-password'] },
      body: { label: 'new laptop' },
    })
    expect(own.status).toBe(201)
    // A token may still revoke tokens (its own owner's): cleaning up needs no password.
    const revoked = await call(url, 'DELETE', `/v1/users/bob/tokens/${leaked.body.id}`, {
      auth: { bearer: own.body.token },
    })
    expect(revoked.status).toBe(204)
  })

  it("a user cannot revoke another user's token by putting its id under their own name", async () => {
    const made = await adminCall(url, 'POST', '/v1/users/bob/tokens', { label: 'victim' }, 201)
    const res = await asAlice('DELETE', `/v1/users/alice/tokens/${made.body.id}`)
    expect(res.status).toBe(404)
    const stillWorks = await call(url, 'GET', '/v1/whoami', { auth: { bearer: made.body.token } })
    expect(stillWorks.body.name).toBe('bob')
  })
})

describe('console sessions', () => {
  const loginAs = async (username: string, password: string) => {
    const login = await call(url, 'POST', '/console/login', { body: { username, password } })
    expect(login.status).toBe(200)
    return (login.headers.get('set-cookie') ?? '').split(';')[0] as string
  }

  it("a stolen session stops working once the user's password is reset", async () => {
    await adminCall(url, 'POST', '/v1/users', { name: 'carol', password: 'carol-password' }, 201)
    const stolen = await loginAs('carol', 'carol-password')
    expect((await call(url, 'GET', '/v1/whoami', { headers: { cookie: stolen } })).body.name).toBe('carol')
    await adminCall(url, 'PUT', '/v1/users/carol', { password: 'carol-new-password' }, 200)
    const after = await call(url, 'GET', '/v1/whoami', { headers: { cookie: stolen } })
    expect(after.status).toBe(401)
    expect(after.body.error.code).toBe('UNAUTHENTICATED')
    const fresh = await loginAs('carol', 'carol-new-password')
    expect((await call(url, 'GET', '/v1/whoami', { headers: { cookie: fresh } })).body.name).toBe('carol')
  })

  it("a deleted user's session does not come back as a new user created with the same name", async () => {
    await adminCall(url, 'POST', '/v1/users', { name: 'dave', password: 'dave-password' }, 201)
    const old = await loginAs('dave', 'dave-password')
    await adminCall(url, 'DELETE', '/v1/users/dave', undefined, 204)
    await adminCall(
      url,
      'POST',
      '/v1/users',
      { name: 'dave', password: 'another-dave-pw', superuser: true },
      201,
    )
    const resurrected = await call(url, 'GET', '/v1/whoami', { headers: { cookie: old } })
    expect(resurrected.status).toBe(401)
  })
})

describe('group reads', () => {
  it("read on a group does not read another member's topics through that member's id", async () => {
    await grant(url, 'alice', 'read', 'group', 'mixed')
    await grant(url, 'alice', 'read', 'topic', 'orders')
    const victim = await adminCall(url, 'POST', '/v1/groups/mixed/members', { topics: ['secret'] }, 200)
    const victimId = victim.body.memberId as string
    // The id is in the group's description, which read on the group shows.
    const described = await asAlice('GET', '/v1/groups/mixed')
    expect(described.body.members.map((m: { memberId: string }) => m.memberId)).toContain(victimId)
    for (const method of ['GET', 'POST']) {
      const res = await asAlice(
        method,
        `/v1/groups/mixed/members/${victimId}/records`,
        method === 'POST' ? {} : undefined,
      )
      expect([res.status, res.body.error.message], method).toEqual([403, 'alice may not read topic "secret"'])
    }
    const own = await asAlice('POST', '/v1/groups/mixed/members', { topics: ['orders'] })
    expect(own.status).toBe(200)
    const sneak = await asAlice('POST', `/v1/groups/mixed/members/${own.body.memberId}/records`, {
      commit: [{ topic: 'secret', partition: 0, offset: 2 }],
    })
    expect([sneak.status, sneak.body.error.message]).toEqual([403, 'alice may not read topic "secret"'])
  })
})

describe('group descriptions', () => {
  it('describe on a group does not reveal the offsets and lag of a topic the caller may not describe', async () => {
    await adminCall(url, 'POST', '/v1/topics/secret/records', { records: [{ value: 'a' }, { value: 'b' }] })
    await adminCall(url, 'POST', '/v1/topics/orders/records', { records: [{ value: 'o' }] })
    await adminCall(
      url,
      'POST',
      '/v1/groups/shared/offsets',
      {
        offsets: [
          { topic: 'secret', partition: 0, offset: 1 },
          { topic: 'orders', partition: 0, offset: 0 },
        ],
      },
      204,
    )
    await grant(url, 'alice', 'describe', 'group', 'shared')
    await grant(url, 'alice', 'describe', 'topic', 'orders')

    const offsets = await asAlice('GET', '/v1/groups/shared/offsets')
    expect(offsets.status).toBe(200)
    expect(offsets.body.offsets).toEqual([
      { topic: 'orders', partition: 0, committed: 0, logEndOffset: 1, lag: 1 },
    ])
    const described = await asAlice('GET', '/v1/groups/shared')
    expect(described.status).toBe(200)
    expect(described.body.offsets.map((o: { topic: string }) => o.topic)).toEqual(['orders'])
    expect(described.body.lag).toBe(1)
    const listed = await asAlice('GET', '/v1/groups')
    expect(JSON.stringify(listed.body)).not.toContain('secret')

    // The admin still sees both.
    const all = await adminCall(url, 'GET', '/v1/groups/shared/offsets')
    expect(all.body.offsets.map((o: { topic: string }) => o.topic)).toEqual(['orders', 'secret'])
  })

  it('alter on a group cannot turn on dead-lettering that copies a topic the caller may not read into one it can', async () => {
    await adminCall(url, 'POST', '/v1/topics', { name: 'mine', partitions: 1 }, 201)
    await grant(url, 'alice', 'alter', 'group', 'dlt-', 'prefix')
    await grant(url, 'alice', 'write', 'topic', 'mine')
    await grant(url, 'alice', 'read', 'topic', 'mine')
    // One group reads secret through a live member, the other has committed offsets on it.
    await adminCall(url, 'POST', '/v1/groups/dlt-live/members', { topics: ['secret'] }, 200)
    const committed = { offsets: [{ topic: 'secret', partition: 0, offset: 0 }] }
    await adminCall(url, 'POST', '/v1/groups/dlt-committed/offsets', committed, 204)
    for (const group of ['dlt-live', 'dlt-committed']) {
      const res = await asAlice('PUT', `/v1/groups/${group}/config`, {
        maxDeliveries: 1,
        deadLetterTopic: 'mine',
      })
      expect([res.status, res.body.error?.message], group).toEqual([403, 'alice may not read topic "secret"'])
    }
    // A group of alice's own topics she may configure.
    await adminCall(
      url,
      'POST',
      '/v1/groups/dlt-own/offsets',
      { offsets: [{ topic: 'mine', partition: 0, offset: 0 }] },
      204,
    )
    const own = await asAlice('PUT', '/v1/groups/dlt-own/config', {
      maxDeliveries: 1,
      deadLetterTopic: 'mine',
    })
    expect(own.status).toBe(200)
  })
})
