/**
 * Certificate reload without a restart: after the files are replaced, new connections get the new
 * certificate (told apart by its serial) on SIGHUP, or by themselves when the files are polled;
 * a connection opened before keeps working; files that do not make a usable certificate are
 * refused and the current certificate stays in use.
 */
import { copyFileSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { waitUntil } from '../../helpers/cluster.js'
import { askOverTls, type CertFiles, makeCa, openTls, type TestCa } from '../../helpers/tls-certs.js'

let ca: TestCa
let first: CertFiles
let second: CertFiles
let third: CertFiles
/** The files the brokers are started with; tests copy other certificates over them. */
let live: { certFile: string; keyFile: string }

function install(cert: CertFiles): void {
  copyFileSync(cert.keyFile, live.keyFile)
  copyFileSync(cert.certFile, live.certFile)
}

beforeAll(() => {
  ca = makeCa()
  first = ca.issue('first', { cn: 'broker-a', serial: 'A1' })
  second = ca.issue('second', { cn: 'broker-b', serial: 'B2' })
  third = ca.issue('third', { cn: 'broker-c', serial: 'C3' })
  live = { certFile: `${ca.dir}/live.crt`, keyFile: `${ca.dir}/live.key` }
})

afterAll(() => {
  ca?.remove()
})

function tlsArgs(extra: string[] = []): string[] {
  return ['--workers', '0', '--tls-cert-file', live.certFile, '--tls-key-file', live.keyFile, ...extra]
}

describe('on SIGHUP (file polling off)', () => {
  let broker: BrokerProcess

  beforeAll(async () => {
    install(first)
    broker = await startBroker({ args: tlsArgs(['--tls-watch-interval-ms', '0']) })
  })

  afterAll(async () => {
    await broker?.stop()
  })

  test('new connections get the new certificate; an open connection keeps working', async () => {
    expect((await askOverTls(broker.url, ca.cert)).serial).toBe('A1')
    const open = await openTls(broker.url, ca.cert)
    try {
      install(second)
      // Without polling nothing changes until the signal.
      expect((await askOverTls(broker.url, ca.cert)).serial).toBe('A1')
      await broker.kill('SIGHUP')
      const answer = await waitUntil(
        async () => {
          const a = await askOverTls(broker.url, ca.cert)
          return a.serial === 'B2' ? a : undefined
        },
        10_000,
        'a connection with the new certificate',
      )
      expect(answer.statusLine).toBe('HTTP/1.1 200 OK')
      expect(open.serial).toBe('A1')
      expect(await open.get('/healthz')).toBe('HTTP/1.1 200 OK')
    } finally {
      open.close()
    }
  })

  test('a bad certificate file is refused and the current certificate stays', async () => {
    expect((await askOverTls(broker.url, ca.cert)).serial).toBe('B2')
    // A key that is not the certificate's, then a file that is not PEM at all.
    copyFileSync(third.keyFile, live.keyFile)
    await broker.kill('SIGHUP')
    writeFileSync(live.certFile, 'not a certificate\n')
    await broker.kill('SIGHUP')
    // Still alive (SIGHUP's default action would have ended it) and still serving the old one.
    for (let i = 0; i < 3; i++) {
      expect(await askOverTls(broker.url, ca.cert)).toEqual({ serial: 'B2', statusLine: 'HTTP/1.1 200 OK' })
    }
    install(third)
    await broker.kill('SIGHUP')
    await waitUntil(
      async () => (await askOverTls(broker.url, ca.cert)).serial === 'C3',
      10_000,
      'the third certificate after the files are fixed',
    )
  })
})

describe('on a change of the files (polled)', () => {
  let broker: BrokerProcess

  beforeAll(async () => {
    install(first)
    broker = await startBroker({ args: tlsArgs(['--tls-watch-interval-ms', '100']) })
  })

  afterAll(async () => {
    await broker?.stop()
  })

  test('replacing the certificate and key is picked up without a signal', async () => {
    expect((await askOverTls(broker.url, ca.cert)).serial).toBe('A1')
    install(second)
    const answer = await waitUntil(
      async () => {
        const a = await askOverTls(broker.url, ca.cert)
        return a.serial === 'B2' ? a : undefined
      },
      20_000,
      'the polled reload',
    )
    expect(answer.statusLine).toBe('HTTP/1.1 200 OK')
  })
})
