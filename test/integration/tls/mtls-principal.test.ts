/**
 * Mutual TLS with --auth: a verified client certificate's CN is the principal of a request that
 * brings no other credentials — the user of that name (superuser flag included), or a plain
 * principal that ACLs can name although no password user has it. An Authorization header wins
 * over the certificate, and the audit log says the principal came from a certificate.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BrokerClient, type ClientOptions } from '../../../src/client/broker-client.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { waitUntil } from '../../helpers/cluster.js'
import { type CertFiles, makeCa, type TestCa } from '../../helpers/tls-certs.js'
import { ADMIN_PASSWORD } from '../auth/auth-helpers.js'

let ca: TestCa
/** Signed by a CA the broker does not trust for clients. */
let otherCa: TestCa
let server: CertFiles
let alice: CertFiles
let bob: CertFiles
/** CN=admin: the bootstrap admin's name. */
let adminCert: CertFiles
/** CN=ops: nobody in particular; the admin's tool presents it next to its Basic credentials. */
let ops: CertFiles
/** A CN that no ACL could name. */
let spaced: CertFiles
let stranger: CertFiles

beforeAll(() => {
  ca = makeCa('Strata mTLS CA')
  otherCa = makeCa('Other CA')
  server = ca.issue('server', { cn: 'broker-0', serial: '7001' })
  alice = ca.issue('alice', { cn: 'alice', serial: '7002' })
  bob = ca.issue('bob', { cn: 'bob', serial: '7003' })
  adminCert = ca.issue('admin', { cn: 'admin', serial: '7004' })
  ops = ca.issue('ops', { cn: 'ops', serial: '7005' })
  spaced = ca.issue('spaced', { cn: 'Alice Smith', serial: '7006' })
  stranger = otherCa.issue('stranger', { cn: 'alice', serial: '7007' })
})

afterAll(() => {
  ca?.remove()
  otherCa?.remove()
})

function startMtlsBroker(mode: 'request' | 'require'): Promise<BrokerProcess> {
  return startBroker({
    args: [
      '--auth',
      '--workers',
      '0',
      '--log-level',
      'info',
      '--tls-cert-file',
      server.certFile,
      '--tls-key-file',
      server.keyFile,
      '--tls-client-auth',
      mode,
      '--tls-client-ca-file',
      ca.certFile,
    ],
    env: { STRATA_ADMIN_PASSWORD: ADMIN_PASSWORD },
  })
}

/** Runs `use` with a client presenting `cert` (and whatever else `extra` adds), then closes it. */
async function withClient<T>(
  broker: BrokerProcess,
  cert: CertFiles | undefined,
  use: (client: BrokerClient) => Promise<T>,
  extra: Partial<ClientOptions> = {},
): Promise<T> {
  const client = new BrokerClient({
    urls: broker.url,
    tls: { ca: ca.cert, ...(cert && { cert: cert.cert, key: cert.key }) },
    retry: { maxAttempts: 1 },
    ...extra,
  })
  try {
    return await use(client)
  } finally {
    await client.close()
  }
}

/** The JSON audit lines the broker logged so far. */
function auditLines(broker: BrokerProcess): Array<Record<string, unknown>> {
  return broker
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.audit === true)
}

describe('--auth with --tls-client-auth require', () => {
  let broker: BrokerProcess
  const asAdmin = <T>(use: (client: BrokerClient) => Promise<T>) =>
    withClient(broker, ops, use, { username: 'admin', password: ADMIN_PASSWORD })

  beforeAll(async () => {
    broker = await startMtlsBroker('require')
    await asAdmin((admin) => admin.createTopic({ name: 't', partitions: 1 }))
  })

  afterAll(async () => {
    await broker?.stop()
  })

  test('the CN is the user of that name with its superuser flag, or a plain principal', async () => {
    expect(await withClient(broker, adminCert, (c) => c.whoami())).toEqual({ name: 'admin', superuser: true })
    expect(await withClient(broker, alice, (c) => c.whoami())).toEqual({ name: 'alice', superuser: false })
    // alice is no password user: the certificate alone makes her a principal.
    expect((await asAdmin((admin) => admin.listUsers())).map((u) => u.name)).toEqual(['admin'])
  })

  test('alice without an ACL may not produce; the denial is audited as a certificate principal', async () => {
    const denied = await withClient(broker, alice, (c) =>
      c.produce('t', { records: [{ value: 'no' }] }).catch((err: unknown) => err),
    )
    expect(denied).toMatchObject({
      code: 'FORBIDDEN',
      statusCode: 403,
      message: 'alice may not write topic "t"',
    })
    // The line goes through the broker's stdout pipe, which may trail the answer.
    await waitUntil(
      () => auditLines(broker).some((line) => line.outcome === 'denied'),
      10_000,
      "alice's denial",
    )
    expect(auditLines(broker).filter((line) => line.outcome === 'denied')).toEqual([
      expect.objectContaining({
        principal: 'alice',
        authentication: 'certificate',
        operation: 'write',
        resource: { type: 'topic', name: 't' },
        msg: 'denied: write topic "t"',
      }),
    ])
  })

  test('once granted write and read on t, alice produces and fetches with only her certificate; bob still may not', async () => {
    for (const operation of ['write', 'read'] as const) {
      const rule = await asAdmin((admin) =>
        admin.addAcl({
          principal: 'alice',
          operation,
          resourceType: 'topic',
          patternType: 'literal',
          name: 't',
        }),
      )
      expect(rule).toMatchObject({ principal: 'alice', operation, name: 't' })
    }
    await withClient(broker, alice, async (client) => {
      const produced = await client.produce('t', { records: [{ value: 'from-alice' }] })
      expect(produced.offsets).toEqual([{ partition: 0, offset: 0 }])
      const fetched = await client.fetch('t', 0, { offset: 0 })
      expect(fetched.records.map((r) => [r.offset, r.value])).toEqual([[0, 'from-alice']])
    })
    const bobDenied = await withClient(broker, bob, (c) =>
      c.produce('t', { records: [{ value: 'from-bob' }] }).catch((err: unknown) => err),
    )
    expect(bobDenied).toMatchObject({
      code: 'FORBIDDEN',
      statusCode: 403,
      message: 'bob may not write topic "t"',
    })
    // bob's refused produce wrote nothing.
    const after = await withClient(broker, alice, (c) => c.fetch('t', 0, { offset: 0 }))
    expect(after.records.map((r) => r.value)).toEqual(['from-alice'])
    // The admin change by a certificate principal names how it was authenticated.
    await withClient(broker, adminCert, (c) => c.createTopic({ name: 'by-cert', partitions: 1 }))
    // onResponse logs after the answer went out: wait for the line to arrive.
    await waitUntil(
      () =>
        auditLines(broker).some(
          (line) =>
            line.msg === 'admin change' &&
            line.principal === 'admin' &&
            line.authentication === 'certificate',
        ),
      10_000,
      'the admin change by CN=admin',
    )
    expect(auditLines(broker).filter((line) => line.msg === 'admin change')).toContainEqual(
      expect.objectContaining({
        principal: 'admin',
        authentication: 'certificate',
        operation: 'POST /v1/topics',
        resource: { name: 'by-cert' },
        outcome: 'success',
      }),
    )
  })

  test("an Authorization header wins over the certificate: alice's certificate with a wrong token is 401", async () => {
    const refused = await withClient(broker, alice, (c) => c.whoami().catch((err: unknown) => err), {
      token: 'not-a-real-token',
    })
    expect(refused).toMatchObject({
      code: 'UNAUTHENTICATED',
      statusCode: 401,
      message: 'unknown or revoked token',
    })
    // The right header acts as its own principal, not as the certificate's.
    expect(
      await withClient(broker, alice, (c) => c.whoami(), { username: 'admin', password: ADMIN_PASSWORD }),
    ).toEqual({ name: 'admin', superuser: true })
  })

  test('a CN that no ACL could name is refused', async () => {
    const refused = await withClient(broker, spaced, (c) => c.whoami().catch((err: unknown) => err))
    expect(refused).toMatchObject({
      code: 'UNAUTHENTICATED',
      statusCode: 401,
      message:
        'client certificate CN "Alice Smith" is not a usable principal name (1 to 128 of A-Z a-z 0-9 . _ @ -)',
    })
  })
})

describe('--auth with --tls-client-auth request', () => {
  let broker: BrokerProcess

  beforeAll(async () => {
    broker = await startMtlsBroker('request')
  })

  afterAll(async () => {
    await broker?.stop()
  })

  test('no certificate, or one the client CA did not sign, names nobody: 401', async () => {
    for (const cert of [undefined, stranger]) {
      const refused = await withClient(broker, cert, (c) => c.whoami().catch((err: unknown) => err))
      expect(refused).toMatchObject({
        code: 'UNAUTHENTICATED',
        statusCode: 401,
        message: 'credentials required: HTTP Basic or a Bearer token',
      })
    }
    expect(await withClient(broker, alice, (c) => c.whoami())).toEqual({ name: 'alice', superuser: false })
  })
})
