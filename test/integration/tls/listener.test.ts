/**
 * A broker serving https (`--tls-cert-file`, `--tls-key-file`): the client library and the CLI
 * produce and fetch over it when they trust the CA, and a client that does not is refused with
 * the certificate error (or served when it opts out of verification).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { TlsHandshakeError } from '../../../src/client/tls-errors.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { askOverTls, makeCa, type TestCa } from '../../helpers/tls-certs.js'
import { cli } from '../cli/cli-io.js'

let ca: TestCa
let broker: BrokerProcess

beforeAll(async () => {
  ca = makeCa()
  const server = ca.issue('server', { cn: 'broker-0', serial: '1001' })
  broker = await startBroker({
    args: ['--workers', '0', '--tls-cert-file', server.certFile, '--tls-key-file', server.keyFile],
  })
})

afterAll(async () => {
  await broker?.stop()
  ca?.remove()
})

describe('the client listener over TLS', () => {
  test('prints an https URL and presents the configured certificate', async () => {
    expect(broker.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const answer = await askOverTls(broker.url, ca.cert)
    expect(answer).toEqual({ serial: '1001', statusLine: 'HTTP/1.1 200 OK' })
    // A single broker describes itself with the URL it was reached by: https.
    const client = new BrokerClient({ urls: broker.url, tls: { ca: ca.cert } })
    try {
      expect(await client.cluster()).toEqual({
        brokers: [{ id: 0, url: broker.url, alive: true }],
        controller: 0,
      })
    } finally {
      await client.close()
    }
  })

  test('the client library trusting the CA produces and fetches the exact records', async () => {
    const client = new BrokerClient({ urls: broker.url, tls: { ca: ca.cert } })
    try {
      await client.createTopic({ name: 'secure', partitions: 1 })
      const produced = await client.produce('secure', {
        records: [{ key: 'k', value: 'one' }, { value: { n: 2 } }],
      })
      expect(produced.offsets).toEqual([
        { partition: 0, offset: 0 },
        { partition: 0, offset: 1 },
      ])
      const fetched = await client.fetch('secure', 0, { offset: 0 })
      expect(fetched.records.map((r) => [r.offset, r.key, r.value])).toEqual([
        [0, 'k', 'one'],
        [1, null, { n: 2 }],
      ])
      expect(fetched.highWatermark).toBe(2)
    } finally {
      await client.close()
    }
  })

  test('a client without the CA is refused with the certificate error; rejectUnauthorized false is served', async () => {
    const untrusting = new BrokerClient({ urls: broker.url, retry: { maxAttempts: 1 } })
    try {
      const refused = await untrusting.health().catch((err: unknown) => err)
      expect(refused).toBeInstanceOf(TlsHandshakeError)
      expect(refused).toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        url: broker.url,
        retriable: false,
      })
    } finally {
      await untrusting.close()
    }
    const unverified = new BrokerClient({ urls: broker.url, tls: { rejectUnauthorized: false } })
    try {
      expect(await unverified.health()).toEqual({ status: 'ok' })
    } finally {
      await unverified.close()
    }
  })

  test('the CLI takes the CA from --ca-file or STRATA_CA_FILE, and fails without it', async () => {
    const withFlag = await cli([
      'topics',
      'describe',
      'secure',
      '--url',
      broker.url,
      '--ca-file',
      ca.certFile,
    ])
    expect(withFlag.stderr).toBe('')
    expect(withFlag.code).toBe(0)
    expect(withFlag.stdout).toContain('topic secure  partitions 1')

    const withEnv = await cli(['topics', 'list', '--json'], {
      env: { STRATA_URL: broker.url, STRATA_CA_FILE: ca.certFile },
    })
    expect(withEnv.code).toBe(0)
    expect(JSON.parse(withEnv.stdout).map((t: { name: string }) => t.name)).toContain('secure')

    const without = await cli(['topics', 'list', '--url', broker.url])
    expect(without.code).toBe(1)
    expect(without.stderr).toBe(
      `strata: TLS handshake with ${broker.url} failed: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)\n`,
    )

    const missing = await cli(['topics', 'list', '--url', broker.url, '--ca-file', `${ca.dir}/nope.crt`])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('--ca-file')
    expect(missing.stderr).toContain('ENOENT')
  })
})

describe('unusable TLS files at start', () => {
  test('a missing certificate or a key that is not its own stops the start with the reason', async () => {
    const server = ca.issue('start-server', { cn: 'broker-0', serial: '1002' })
    const other = ca.issue('start-other', { cn: 'other', serial: '1003' })
    const missing = `${ca.dir}/missing.crt`
    await expect(
      startBroker({ args: ['--workers', '0', '--tls-cert-file', missing, '--tls-key-file', server.keyFile] }),
    ).rejects.toThrow(
      `strata: could not start: TLS files (${missing}, ${server.keyFile}) are unusable: ENOENT: no such file or directory, open '${missing}'`,
    )
    await expect(
      startBroker({
        args: ['--workers', '0', '--tls-cert-file', server.certFile, '--tls-key-file', other.keyFile],
      }),
    ).rejects.toThrow('key values mismatch')
  })
})
