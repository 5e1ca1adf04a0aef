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
import {
  createTopic,
  readAll,
  startCluster,
  type TestCluster,
  waitForLeader,
  waitUntil,
} from '../../helpers/cluster.js'
import { jsonRequest } from '../../helpers/http.js'
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

  test('a publish to one broker is written on the other leaders over mutual TLS', async () => {
    await createTopic(cluster.advertised(1), { name: 'tls-fan', partitions: 3, replicationFactor: 2 })
    const expectCode = async (res: Promise<{ status: number; body: unknown }>, status: number) => {
      const { status: got, body } = await res
      expect(got, JSON.stringify(body)).toBe(status)
    }
    await expectCode(
      jsonRequest(`${cluster.advertised(1)}/v1/exchanges`, 'POST', { name: 'fan', type: 'fanout' }),
      201,
    )
    await expectCode(
      jsonRequest(`${cluster.advertised(2)}/v1/exchanges/fan/bindings`, 'POST', { topic: 'tls-fan' }),
      201,
    )
    const leaders = await Promise.all(
      [0, 1, 2].map((p) => waitForLeader(cluster.advertised(3), 'tls-fan', p)),
    )
    expect(new Set(leaders.map((l) => l.leader)).size).toBeGreaterThan(1)
    const records = Array.from({ length: 30 }, (_, i) => ({ routingKey: '', key: `k${i}`, value: i }))
    const published = await waitUntil(
      async () => {
        const res = await jsonRequest(`${cluster.advertised(3)}/v1/exchanges/fan/records`, 'POST', {
          records,
        })
        return res.status === 200 ? res : undefined
      },
      15_000,
      'broker 3 to know the exchange and publish',
    )
    const routed = (
      published.body.results as Array<{ routed: Array<{ partition: number; offset: number }> }>
    ).map((r) => r.routed[0])
    expect(new Set(routed.map((r) => leaders[r?.partition as number]?.leader)).size).toBeGreaterThan(1)
    for (const [i, r] of routed.entries()) {
      const log = await readAll(
        cluster.advertised(leaders[r?.partition as number]?.leader as number),
        'tls-fan',
        r?.partition as number,
      )
      expect(log.find((x) => x.offset === r?.offset)?.value).toBe(i)
    }
  })

  test('kill -9 of the leader under acks=all writes: exactly once, in order, replicas identical', async () => {
    const client = ca.issue('producer', { cn: 'producer', serial: 'C1' })
    await leaderKillUnderWrites(cluster, 'orders-over-tls', {
      tls: { ca: ca.cert, cert: client.cert, key: client.key },
    })
  })
})
