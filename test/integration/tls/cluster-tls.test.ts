/**
 * Three brokers that speak only TLS, with client certificates required: followers fetch from
 * leaders over https, trusting `--tls-ca-file` and presenting the broker's own certificate, and
 * the leader-kill scenario (test/cluster/leader-kill-scenario.ts) holds with the client library
 * on https: acks=all writes go on through the failover, exactly once, and the surviving replicas
 * are byte-identical.
 */
import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { leaderKillUnderWrites } from '../../cluster/leader-kill-scenario.js'
import { startCluster, type TestCluster } from '../../helpers/cluster.js'
import { askOverTls, makeCa, type TestCa } from '../../helpers/tls-certs.js'

let ca: TestCa
let cluster: TestCluster
let previousDispatcher: Dispatcher

describe('a cluster over mutual TLS', () => {
  beforeAll(async () => {
    ca = makeCa()
    const broker = ca.issue('broker', { cn: 'strata-broker', serial: 'B0' })
    const client = ca.issue('client', { cn: 'test-client', serial: 'C0' })
    // The cluster helpers' own requests (describe, read back) go through global fetch.
    previousDispatcher = getGlobalDispatcher()
    setGlobalDispatcher(new Agent({ connect: { ca: ca.cert, cert: client.cert, key: client.key } }))
    cluster = await startCluster({
      brokers: 3,
      scheme: 'https',
      args: [
        '--tls-cert-file',
        broker.certFile,
        '--tls-key-file',
        broker.keyFile,
        '--tls-ca-file',
        ca.certFile,
        '--tls-client-auth',
        'require',
      ],
    })
  })

  afterAll(async () => {
    await cluster?.close()
    if (previousDispatcher) setGlobalDispatcher(previousDispatcher)
    ca?.remove()
  })

  test('every broker refuses a client without a certificate', async () => {
    for (const id of cluster.ids) {
      expect(cluster.advertised(id)).toMatch(/^https:/)
      await expect(askOverTls(cluster.advertised(id), ca.cert)).rejects.toMatchObject({
        code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      })
    }
  })

  test('kill -9 of the leader under acks=all writes: exactly once, in order, replicas identical', async () => {
    const client = ca.issue('producer', { cn: 'producer', serial: 'C1' })
    await leaderKillUnderWrites(cluster, 'orders-over-tls', {
      tls: { ca: ca.cert, cert: client.cert, key: client.key },
    })
  })
})
