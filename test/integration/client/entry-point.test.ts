/**
 * The client's own entry point (`@strata-mq/broker/client`, package.json `exports`) loads the
 * client and nothing of the broker: in a fresh node process, importing it resolves no module of
 * fastify, piscina, etcd3/gRPC or prom-client and none of the broker's own folders. The same check
 * on the package root finds fastify, which shows the check sees what an import loads. The
 * `strata` command finds its version under the package's name.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { expect, test } from 'vitest'
import { runScript } from './node-script.js'

const SCRIPT = resolve(import.meta.dirname, 'fixtures/loaded-modules.mjs')

const BROKER_PACKAGES =
  /\/node_modules\/(fastify|@fastify|fastify-plugin|piscina|etcd3|@grpc|prom-client|typebox|@node-rs)\//
const BROKER_FOLDERS = /\/dist\/src\/(broker|server|storage|cluster|workers|replication|config|cli|metrics)\//

async function modulesLoadedBy(entry: string): Promise<{ exported: string[]; modules: string[] }> {
  const run = runScript([SCRIPT, entry], 30_000)
  const { code, events, stderr } = await run.exited
  expect(stderr).toBe('')
  expect(code).toBe(0)
  return events[0] as unknown as { exported: string[]; modules: string[] }
}

test('importing @strata-mq/broker/client loads the client, msgpackr and undici, and nothing of the broker', async () => {
  const { exported, modules } = await modulesLoadedBy('@strata-mq/broker/client')
  expect(exported).toEqual(expect.arrayContaining(['Admin', 'BrokerClient', 'Consumer', 'Producer']))
  expect(modules.filter((m) => BROKER_PACKAGES.test(m) || BROKER_FOLDERS.test(m))).toEqual([])
  expect(modules.some((m) => m.includes('/node_modules/msgpackr/'))).toBe(true)
  expect(modules.some((m) => m.includes('/node_modules/undici/'))).toBe(true)
  expect(modules.some((m) => m.endsWith('/dist/src/client/index.js'))).toBe(true)
})

test('the package root, which can embed a broker, does load fastify (the check sees imports)', async () => {
  const { exported, modules } = await modulesLoadedBy('@strata-mq/broker')
  expect(exported).toEqual(expect.arrayContaining(['Consumer', 'startBroker']))
  expect(modules.some((m) => m.includes('/node_modules/fastify/'))).toBe(true)
})

test('the strata command knows the package by its name: --version and --help', () => {
  const root = resolve(import.meta.dirname, '../../..')
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
    name: string
    version: string
  }
  expect(pkg.name).toBe('@strata-mq/broker')
  const run = (arg: string) =>
    execFileSync(process.execPath, [resolve(root, 'bin/strata.js'), arg], { encoding: 'utf8' })
  expect(run('--version').trim()).toBe(`strata ${pkg.version}`)
  expect(run('--help')).toContain(
    'npm package @strata-mq/broker; the client library is @strata-mq/broker/client',
  )
})
