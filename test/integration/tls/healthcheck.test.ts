/**
 * The Docker image's HEALTHCHECK script (docker/healthcheck.js), run as the image runs it: with the
 * broker's STRATA_* variables. It passes on a plain broker and on one that requires client
 * certificates over TLS, and fails when nothing answers.
 */
import { execFile } from 'node:child_process'
import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { freePort } from '../../helpers/cluster.js'
import { makeCa, type TestCa } from '../../helpers/tls-certs.js'

const SCRIPT = resolve(import.meta.dirname, '../../../docker/healthcheck.js')

function healthcheck(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [SCRIPT],
      { env: { PATH: process.env.PATH ?? '', ...env } },
      (err, _out, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    )
  })
}

let ca: TestCa
let plain: BrokerProcess
let mutual: BrokerProcess
let tlsEnv: Record<string, string>

beforeAll(async () => {
  ca = makeCa()
  const server = ca.issue('server', { cn: 'broker', serial: '0D' })
  tlsEnv = { STRATA_TLS_CERT_FILE: server.certFile, STRATA_TLS_KEY_FILE: server.keyFile }
  plain = await startBroker({ args: ['--workers', '0'] })
  mutual = await startBroker({
    args: ['--workers', '0', '--tls-client-auth', 'require', '--tls-client-ca-file', ca.certFile],
    env: tlsEnv,
  })
})

afterAll(async () => {
  await plain?.stop()
  await mutual?.stop()
  ca?.remove()
})

describe('docker/healthcheck.js', () => {
  test('passes on a plain broker (STRATA_PORT, STRATA_HOST=0.0.0.0)', async () => {
    expect(await healthcheck({ STRATA_HOST: '0.0.0.0', STRATA_PORT: String(plain.port) })).toEqual({
      code: 0,
      stderr: '',
    })
  })

  test('passes over TLS with client certificates required, presenting the broker certificate', async () => {
    expect(mutual.url).toMatch(/^https:/)
    expect(await healthcheck({ STRATA_PORT: String(mutual.port), ...tlsEnv })).toEqual({
      code: 0,
      stderr: '',
    })
  })

  test('fails when nothing listens on the port', async () => {
    const result = await healthcheck({ STRATA_PORT: String(await freePort()) })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('ECONNREFUSED')
  })
})
