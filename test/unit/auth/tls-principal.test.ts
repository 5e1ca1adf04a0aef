/**
 * principalFromCertificate against real TLS sockets of a node:tls server that asks for client
 * certificates but lets every client in (as `--tls-client-auth request` does): only a certificate
 * the CA signed names a principal.
 */
import net from 'node:net'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { principalFromCertificate } from '../../../src/auth/tls-principal.js'
import { type CertFiles, makeCa, type TestCa } from '../../helpers/tls-certs.js'

let ca: TestCa
let otherCa: TestCa
let server: tls.Server
let port: number
const seen: Array<string | undefined> = []

beforeAll(async () => {
  ca = makeCa()
  otherCa = makeCa('Somebody Else CA')
  const serverCert = ca.issue('server', { cn: 'broker-0', serial: '01' })
  server = tls.createServer(
    { key: serverCert.key, cert: serverCert.cert, ca: ca.cert, requestCert: true, rejectUnauthorized: false },
    (socket) => {
      seen.push(principalFromCertificate(socket))
      socket.end('ok')
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as net.AddressInfo).port
})

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()))
  ca?.remove()
  otherCa?.remove()
})

/** Connects (trusting the server's CA), waits for the server's answer, returns what it saw. */
async function principalSeenFor(client: CertFiles | undefined): Promise<string | undefined> {
  const before = seen.length
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ca: ca.cert,
    ...(client && { cert: client.cert, key: client.key }),
  })
  await new Promise<void>((resolve, reject) => {
    socket.on('data', () => undefined)
    socket.once('end', resolve)
    socket.once('error', reject)
  })
  socket.destroy()
  expect(seen.length).toBe(before + 1)
  return seen[before]
}

describe('principalFromCertificate', () => {
  test('a certificate the CA signed names its subject CN', async () => {
    expect(await principalSeenFor(ca.issue('alice', { cn: 'alice', serial: '0A' }))).toBe('alice')
  })

  test('no client certificate names nobody', async () => {
    expect(await principalSeenFor(undefined)).toBeUndefined()
  })

  test('a certificate from another CA names nobody, whatever its CN says', async () => {
    expect(await principalSeenFor(otherCa.issue('mallory', { cn: 'alice', serial: '0B' }))).toBeUndefined()
  })

  test('a plain TCP socket (and no socket) names nobody', async () => {
    const plain = net.createServer()
    const accepted = new Promise<net.Socket>((resolve) => plain.once('connection', resolve))
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve))
    const client = net.connect((plain.address() as net.AddressInfo).port, '127.0.0.1')
    const socket = await accepted
    expect(principalFromCertificate(socket)).toBeUndefined()
    expect(principalFromCertificate(undefined)).toBeUndefined()
    client.destroy()
    socket.destroy()
    await new Promise<void>((resolve) => plain.close(() => resolve()))
  })
})
