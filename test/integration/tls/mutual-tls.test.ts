/**
 * Client certificates on the listener. With `--tls-client-auth require` a client without a
 * certificate, or with one the client CA did not sign, is refused in the handshake, and one with
 * a valid certificate is served (client library and CLI). With `request` every client is served;
 * the certificate only names a principal (unit/auth/tls-principal.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { BrokerUnreachableError } from '../../../src/client/client-errors.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { askOverTls, type CertFiles, makeCa, type TestCa } from '../../helpers/tls-certs.js'
import { cli } from '../cli/cli-io.js'

let serverCa: TestCa
let clientCa: TestCa
let server: CertFiles
let alice: CertFiles
/** Signed by the server CA, which the broker does not accept for clients. */
let stranger: CertFiles

beforeAll(() => {
  serverCa = makeCa('Strata Server CA')
  clientCa = makeCa('Strata Client CA')
  server = serverCa.issue('server', { cn: 'broker-0', serial: '5001' })
  alice = clientCa.issue('alice', { cn: 'alice', serial: 'A11CE' })
  stranger = serverCa.issue('stranger', { cn: 'alice', serial: '5002' })
})

afterAll(() => {
  serverCa?.remove()
  clientCa?.remove()
})

function mtlsArgs(mode: 'request' | 'require'): string[] {
  return [
    '--workers',
    '0',
    '--tls-cert-file',
    server.certFile,
    '--tls-key-file',
    server.keyFile,
    '--tls-client-auth',
    mode,
    '--tls-client-ca-file',
    clientCa.certFile,
  ]
}

describe('--tls-client-auth require', () => {
  let broker: BrokerProcess

  beforeAll(async () => {
    broker = await startBroker({ args: mtlsArgs('require') })
  })

  afterAll(async () => {
    await broker?.stop()
  })

  test('a client without a certificate is refused in the handshake', async () => {
    await expect(askOverTls(broker.url, serverCa.cert)).rejects.toMatchObject({
      code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    })
    // undici reports the alert that ends the connection as "other side closed", so the client
    // library sees an unreachable broker (maybe delivered: TLS 1.3 lets the client write first).
    const client = new BrokerClient({
      urls: broker.url,
      tls: { ca: serverCa.cert },
      retry: { maxAttempts: 1 },
    })
    try {
      const refused = await client.health().catch((err: unknown) => err)
      expect(refused).toBeInstanceOf(BrokerUnreachableError)
      expect(refused).toMatchObject({ message: `no answer from ${broker.url} (UND_ERR_SOCKET)` })
    } finally {
      await client.close()
    }
  })

  test('a certificate the client CA did not sign is refused', async () => {
    // Node checks the chain after the TLS 1.3 handshake and closes the connection without an alert.
    await expect(askOverTls(broker.url, serverCa.cert, stranger)).rejects.toThrow(
      'connection closed without an answer',
    )
    const client = new BrokerClient({
      urls: broker.url,
      tls: { ca: serverCa.cert, cert: stranger.cert, key: stranger.key },
      retry: { maxAttempts: 1 },
    })
    try {
      await expect(client.health()).rejects.toBeInstanceOf(BrokerUnreachableError)
    } finally {
      await client.close()
    }
  })

  test('a client with a valid certificate produces and fetches', async () => {
    expect(await askOverTls(broker.url, serverCa.cert, alice)).toEqual({
      serial: '5001',
      statusLine: 'HTTP/1.1 200 OK',
    })
    const client = new BrokerClient({
      urls: broker.url,
      tls: { ca: serverCa.cert, cert: alice.cert, key: alice.key },
    })
    try {
      await client.createTopic({ name: 'mutual', partitions: 1 })
      const produced = await client.produce('mutual', { records: [{ value: 'signed' }] })
      expect(produced.offsets).toEqual([{ partition: 0, offset: 0 }])
      const fetched = await client.fetch('mutual', 0, { offset: 0 })
      expect(fetched.records.map((r) => [r.offset, r.value])).toEqual([[0, 'signed']])
    } finally {
      await client.close()
    }
  })

  test('the CLI presents --cert-file/--key-file, or STRATA_CERT_FILE/STRATA_KEY_FILE', async () => {
    const withFlags = await cli([
      'topics',
      'list',
      '--url',
      broker.url,
      '--ca-file',
      serverCa.certFile,
      '--cert-file',
      alice.certFile,
      '--key-file',
      alice.keyFile,
      '--json',
    ])
    expect(withFlags.stderr).toBe('')
    expect(JSON.parse(withFlags.stdout).map((t: { name: string }) => t.name)).toEqual(['mutual'])
    const withEnv = await cli(['topics', 'describe', 'mutual'], {
      env: {
        STRATA_URL: broker.url,
        STRATA_CA_FILE: serverCa.certFile,
        STRATA_CERT_FILE: alice.certFile,
        STRATA_KEY_FILE: alice.keyFile,
      },
    })
    expect(withEnv.code).toBe(0)
    const keyless = await cli(['topics', 'list', '--url', broker.url, '--cert-file', alice.certFile])
    expect(keyless.code).toBe(2)
    expect(keyless.stderr).toContain('--cert-file and --key-file go together')
  })
})

describe('--tls-client-auth request', () => {
  let broker: BrokerProcess

  beforeAll(async () => {
    broker = await startBroker({ args: mtlsArgs('request') })
  })

  afterAll(async () => {
    await broker?.stop()
  })

  test('clients with no certificate, a valid one, or an unknown one are all served', async () => {
    for (const client of [undefined, alice, stranger]) {
      expect(await askOverTls(broker.url, serverCa.cert, client)).toEqual({
        serial: '5001',
        statusLine: 'HTTP/1.1 200 OK',
      })
    }
  })
})
