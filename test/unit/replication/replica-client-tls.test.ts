/**
 * The follower's client over https: it trusts `--tls-ca-file`, presents the broker's certificate
 * to a leader that asks for one, and after `reloadTls()` (a certificate reload) new connections
 * present the new certificate.
 */
import { copyFileSync } from 'node:fs'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ReplicaClient } from '../../../src/replication/replica-client.js'
import { makeCa, type TestCa } from '../../helpers/tls-certs.js'

let ca: TestCa
let leader: https.Server
let leaderUrl: string
const presented: string[] = []

beforeAll(async () => {
  ca = makeCa()
  const serverCert = ca.issue('leader', { cn: 'leader', serial: '10' })
  leader = https.createServer(
    { key: serverCert.key, cert: serverCert.cert, ca: ca.cert, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      presented.push((req.socket as TLSSocket).getPeerCertificate().serialNumber)
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ epoch: 3, endOffset: 42 }))
    },
  )
  await new Promise<void>((resolve) => leader.listen(0, '127.0.0.1', resolve))
  leaderUrl = `https://127.0.0.1:${(leader.address() as AddressInfo).port}`
})

afterAll(async () => {
  leader?.closeAllConnections()
  await new Promise<void>((resolve) => leader?.close(() => resolve()))
  ca?.remove()
})

describe('ReplicaClient over mutual TLS', () => {
  test('presents the broker certificate, and the new one after reloadTls()', async () => {
    const files = {
      tlsCertFile: `${ca.dir}/self.crt`,
      tlsKeyFile: `${ca.dir}/self.key`,
      tlsCaFile: ca.certFile,
    }
    const install = (name: string, serial: string) => {
      const cert = ca.issue(name, { cn: 'follower', serial })
      copyFileSync(cert.certFile, files.tlsCertFile)
      copyFileSync(cert.keyFile, files.tlsKeyFile)
    }
    install('first', '21')
    const client = new ReplicaClient(files)
    const ask = () =>
      client.epochEnd(
        leaderUrl,
        't',
        0,
        { epoch: 3, replicaId: 2, leaderEpoch: 3 },
        new AbortController().signal,
      )
    try {
      expect(await ask()).toEqual({ epoch: 3, endOffset: 42 })
      install('second', '22')
      expect(await ask()).toEqual({ epoch: 3, endOffset: 42 })
      client.reloadTls()
      expect(await ask()).toEqual({ epoch: 3, endOffset: 42 })
      // The second call reused the first connection; the third is a new agent's.
      expect(presented).toEqual(['21', '21', '22'])
    } finally {
      await client.close()
    }
  })

  // The leader sends its CA along (it is the `ca` of its server): still not trusted without --tls-ca-file.
  test('without TLS files it trusts nothing private and presents nothing', async () => {
    const client = new ReplicaClient({ tlsCertFile: '', tlsKeyFile: '', tlsCaFile: '' })
    try {
      await expect(
        client.epochEnd(
          leaderUrl,
          't',
          0,
          { epoch: 3, replicaId: 2, leaderEpoch: 3 },
          new AbortController().signal,
        ),
      ).rejects.toMatchObject({ code: 'SELF_SIGNED_CERT_IN_CHAIN' })
    } finally {
      await client.close()
    }
  })
})
