/**
 * A commit the application does not await (`consumer.commit(record)`, as the README writes it)
 * must never crash the process when the broker is gone: the failure reaches the application as a
 * `commitFailed` event instead of an unhandled rejection. The application is a real node process
 * (fixtures/unawaited-commit.mjs) against a real broker that the test kills with SIGKILL.
 */
import { resolve } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { Admin } from '../../../src/client/admin.js'
import { BrokerClient } from '../../../src/client/broker-client.js'
import { Producer } from '../../../src/client/producer.js'
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'
import { runScript } from './node-script.js'

const SCRIPT = resolve(import.meta.dirname, 'fixtures/unawaited-commit.mjs')

let broker: BrokerProcess

beforeAll(async () => {
  broker = await startBroker()
})

afterAll(async () => {
  await broker?.stop()
})

test('an unawaited commit to a dead broker is reported as commitFailed, and the process lives on', async () => {
  const client = new BrokerClient({ urls: broker.url })
  await new Admin(client).createTopic('payments')
  await new Producer(client).send('payments', { key: 'alice', value: { cents: 100 } })
  await client.close()

  const app = runScript([SCRIPT, broker.url, 'payments', 'ledger'])
  expect(await app.waitFor('record')).toEqual({ event: 'record', partition: 0, offset: 0 })
  await broker.kill('SIGKILL')
  app.child.stdin?.end('commit\n')

  const { code, events, stderr } = await app.exited
  expect(stderr).not.toMatch(/unhandled|BrokerUnreachableError/i)
  expect(code).toBe(0)
  const failed = {
    event: 'commitFailed',
    code: 'BROKER_UNREACHABLE',
    offsets: [{ topic: 'payments', partition: 0, offset: 1 }],
  }
  // The unawaited commit, then close()'s last try of the offsets it kept queued.
  expect(events).toEqual([{ event: 'record', partition: 0, offset: 0 }, failed, failed, { event: 'done' }])
})
