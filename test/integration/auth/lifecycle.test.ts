/**
 * Credentials over a broker's life: the bootstrap admin, what persists across a restart, a token
 * revoked while a consumer is reading, the rule that an open address needs --auth or --insecure,
 * and the audit log.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Consumer } from '../../../src/client/consumer.js'
import { Producer } from '../../../src/client/producer.js'
import { UnauthenticatedError } from '../../../src/errors.js'
import { type BrokerProcess, startBroker, tempDataDir } from '../../helpers/broker-process.js'
import { waitUntil } from '../../helpers/cluster.js'
import { ADMIN_PASSWORD, adminCall, call, grant, makeUser, startAuthBroker } from './auth-helpers.js'

const started: BrokerProcess[] = []
const clients: BrokerClient[] = []

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close()
  for (const broker of started.splice(0)) await broker.stop()
})

async function track(broker: Promise<BrokerProcess>): Promise<BrokerProcess> {
  const b = await broker
  started.push(b)
  return b
}

describe('bootstrap admin', () => {
  it('is created from --admin-password-file when no users exist, and only then', async () => {
    const dir = tempDataDir()
    const file = join(dir, 'admin-password')
    writeFileSync(file, 'from-a-file-123\n')
    const broker = await track(
      startBroker({
        dataDir: join(dir, 'data'),
        args: ['--auth', '--workers', '0', '--admin-password-file', file],
      }),
    )
    const me = await call(broker.url, 'GET', '/v1/whoami', { auth: { basic: ['admin', 'from-a-file-123'] } })
    expect(me.body).toEqual({ name: 'admin', superuser: true })
    // Users exist now: another password at restart changes nothing.
    writeFileSync(file, 'another-password\n')
    const again = await track(broker.restart())
    started.shift()
    expect(
      (await call(again.url, 'GET', '/v1/whoami', { auth: { basic: ['admin', 'another-password'] } })).status,
    ).toBe(401)
    expect(
      (await call(again.url, 'GET', '/v1/whoami', { auth: { basic: ['admin', 'from-a-file-123'] } })).status,
    ).toBe(200)
  })

  it('is required: --auth with no users and no password refuses to start', async () => {
    await expect(startBroker({ args: ['--auth', '--workers', '0'] })).rejects.toThrow(
      /--auth is on and no users exist: give the first admin a password with STRATA_ADMIN_PASSWORD or --admin-password-file/,
    )
  })
})

describe('persistence', () => {
  it('users, tokens and ACLs survive a restart; the password file holds no secret', async () => {
    const broker = await track(startAuthBroker())
    const token = await makeUser(broker.url, 'svc', 'svc-password')
    await adminCall(broker.url, 'POST', '/v1/topics', { name: 'kept' }, 201)
    await grant(broker.url, 'svc', 'write', 'topic', 'kept')
    const again = await track(broker.restart())
    started.shift()
    const res = await call(again.url, 'POST', '/v1/topics/kept/records', {
      auth: { bearer: token },
      body: { records: [{ value: 'after restart' }] },
    })
    expect(res.status).toBe(200)
    expect(res.body.offsets).toEqual([{ partition: 0, offset: 0 }])
    expect(
      (await call(again.url, 'GET', '/v1/whoami', { auth: { basic: ['svc', 'svc-password'] } })).body,
    ).toEqual({
      name: 'svc',
      superuser: false,
    })
    const { readFileSync } = await import('node:fs')
    const stored = readFileSync(join(again.dataDir, '__metadata', 'auth.json'), 'utf8')
    expect(stored).not.toContain(token)
    expect(stored).not.toContain('svc-password')
    expect(stored).not.toContain(ADMIN_PASSWORD)
  })
})

describe('token revocation', () => {
  it('a consumer reading with a token gets UNAUTHENTICATED on its next request after the revoke', async () => {
    const broker = await track(startAuthBroker())
    const url = broker.url
    const token = await makeUser(url, 'reader', 'reader-password')
    await adminCall(url, 'POST', '/v1/topics', { name: 'stream' }, 201)
    await grant(url, 'reader', 'read', 'topic', 'stream')
    await grant(url, 'reader', 'read', 'group', 'readers')
    const adminClient = new BrokerClient({ urls: url, username: 'admin', password: ADMIN_PASSWORD })
    const client = new BrokerClient({ urls: url, token })
    clients.push(adminClient, client)
    const producer = new Producer(adminClient)
    await producer.send('stream', [{ value: 0 }, { value: 1 }, { value: 2 }])
    await producer.close()

    const consumer = new Consumer(client, {
      group: 'readers',
      topics: 'stream',
      maxWaitMs: 100,
      autoCommit: true,
    })
    const seen: unknown[] = []
    let failure: unknown
    try {
      for await (const record of consumer) {
        seen.push(record.value)
        if (seen.length === 3) {
          const tokenId = token.split('_')[1]
          await adminCall(url, 'DELETE', `/v1/users/reader/tokens/${tokenId}`, undefined, 204)
        }
        // Bounded: the loop must end by the revoke, never by running out of records to wait for.
        if (seen.length > 3) break
      }
    } catch (err) {
      failure = err
    }
    expect(seen).toEqual([0, 1, 2])
    expect(failure).toBeInstanceOf(UnauthenticatedError)
    await consumer.close().catch(() => undefined)
    const direct = await call(url, 'GET', '/v1/topics/stream/partitions/0/records?offset=0', {
      auth: { bearer: token },
    })
    expect(direct.status).toBe(401)
    expect(direct.body.error).toEqual({ code: 'UNAUTHENTICATED', message: 'unknown or revoked token' })
  })
})

describe('--insecure', () => {
  it('an address beyond loopback without --auth refuses to start', async () => {
    await expect(startBroker({ args: ['--host', '0.0.0.0'] })).rejects.toThrow(
      /--host 0\.0\.0\.0 without --auth would let anyone who reaches the port do anything: turn on --auth, or pass --insecure/,
    )
  })

  it('--insecure starts it with a warning; --auth starts it without one', async () => {
    const open = await track(startBroker({ args: ['--host', '0.0.0.0', '--insecure'] }))
    expect(open.stdout()).toContain('listening beyond loopback WITHOUT authentication (--insecure)')
    const secured = await track(startAuthBroker(['--host', '0.0.0.0', '--log-level', 'info']))
    expect(secured.stdout()).not.toContain('WITHOUT authentication')
    expect((await call(`http://127.0.0.1:${secured.port}`, 'GET', '/v1/topics')).status).toBe(401)
  })

  it('loopback without --auth stays open (the quick start)', async () => {
    const local = await track(startBroker())
    expect((await call(local.url, 'GET', '/v1/topics')).body).toEqual({ topics: [] })
  })
})

describe('--metrics-open', () => {
  it('serves /metrics without credentials and nothing else', async () => {
    const broker = await track(startAuthBroker(['--metrics-open']))
    const metrics = await call(broker.url, 'GET', '/metrics')
    expect(metrics.status).toBe(200)
    expect(metrics.body).toContain('# TYPE')
    expect((await call(broker.url, 'GET', '/v1/cluster')).status).toBe(401)
  })
})

describe('audit log', () => {
  it('logs denials and admin changes with principal, operation, resource and outcome, never a secret', async () => {
    const broker = await track(startAuthBroker(['--log-level', 'info']))
    const token = await makeUser(broker.url, 'eve', 'eve-password-1')
    await adminCall(broker.url, 'POST', '/v1/topics', { name: 'secret-plans' }, 201)
    await call(broker.url, 'DELETE', '/v1/topics/secret-plans', { auth: { bearer: token } })
    await call(broker.url, 'GET', '/v1/topics', { auth: { basic: ['eve', 'wrong-password'] } })
    await adminCall(broker.url, 'DELETE', '/v1/topics/secret-plans', undefined, 204)
    // onResponse logs after the answer went out: wait for the line to arrive.
    await waitUntil(
      () => broker.stdout().includes('"operation":"DELETE /v1/topics/:topic"'),
      10_000,
      'the last audit line',
    )
    const lines = broker
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((l) => l.audit === true)
    const pick = (l: Record<string, unknown>) => ({
      principal: l.principal,
      operation: l.operation,
      resource: l.resource,
      outcome: l.outcome,
    })
    expect(lines.map(pick)).toEqual([
      { principal: null, operation: 'bootstrap', resource: { user: 'admin' }, outcome: 'success' },
      { principal: 'admin', operation: 'POST /v1/users', resource: { name: 'eve' }, outcome: 'success' },
      {
        principal: 'admin',
        operation: 'POST /v1/users/:user/tokens',
        resource: { user: 'eve', label: 'test' },
        outcome: 'success',
      },
      {
        principal: 'admin',
        operation: 'POST /v1/topics',
        resource: { name: 'secret-plans' },
        outcome: 'success',
      },
      {
        principal: 'eve',
        operation: 'delete',
        resource: { type: 'topic', name: 'secret-plans' },
        outcome: 'denied',
      },
      { principal: null, operation: undefined, resource: undefined, outcome: 'unauthenticated' },
      {
        principal: 'admin',
        operation: 'DELETE /v1/topics/:topic',
        resource: { topic: 'secret-plans' },
        outcome: 'success',
      },
    ])
    const all = broker.stdout()
    for (const secret of [token, 'eve-password-1', 'wrong-password', ADMIN_PASSWORD])
      expect(all).not.toContain(secret)
  })
})

describe('password guessing', () => {
  it('a flood of wrong passwords is throttled while the broker keeps serving', async () => {
    const broker = await track(startAuthBroker())
    const url = broker.url
    const token = await makeUser(url, 'worker', 'worker-password')
    await adminCall(url, 'POST', '/v1/topics', { name: 'busy' }, 201)
    await grant(url, 'worker', 'write', 'topic', 'busy')
    const attack = Array.from({ length: 200 }, (_, i) =>
      call(url, 'GET', '/v1/topics', { auth: { basic: ['admin', `guess-${i}`] } }),
    )
    const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) })
    expect(health.status).toBe(200)
    const produced = await call(url, 'POST', '/v1/topics/busy/records', {
      auth: { bearer: token },
      body: { records: [{ value: 'still here' }] },
    })
    expect(produced.body).toEqual({ offsets: [{ partition: 0, offset: 0 }], durability: 'fsynced' })
    const answers = await Promise.all(attack)
    const codes = new Set(answers.map((a) => a.body.error.code))
    expect([...codes].sort()).toEqual(['THROTTLED', 'UNAUTHENTICATED'])
    const throttled = answers.find((a) => a.body.error.code === 'THROTTLED')
    expect(throttled?.status).toBe(429)
    expect(throttled?.headers.get('retry-after')).toBe('1')
  })
})
