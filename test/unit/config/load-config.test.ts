/**
 * Configuration: flags beat STRATA_* variables, which beat the config file, which beats the
 * defaults; every problem is reported at once; `serve --help` lists every option with its default.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { envName, kebabCase, loadConfig, serveHelp } from '../../../src/config/load-config.js'
import { defaultConfig, defaultWorkers, optionDocs } from '../../../src/config/schema.js'
import { InvalidConfigError } from '../../../src/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'strata-config-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('loadConfig', () => {
  it('runs partitions in the main thread below 3 cores, and in cores − 1 workers from 3 up', () => {
    expect([1, 2, 3, 4, 16].map(defaultWorkers)).toEqual([0, 0, 2, 3, 15])
  })

  it('gives the documented defaults: 127.0.0.1:8082 and ./segments', () => {
    const { config } = loadConfig([], {})
    expect(config.host).toBe('127.0.0.1')
    expect(config.port).toBe(8082)
    expect(config.dataDir).toBe('./segments')
    expect(config).toEqual(defaultConfig())
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('applies flags over environment over file over defaults', () => {
    const file = join(dir, 'c.json')
    writeFileSync(
      file,
      JSON.stringify({ port: 7000, host: '0.0.0.0', segmentBytes: 4096, logLevel: 'debug' }),
    )
    const env = { STRATA_PORT: '7001', STRATA_HOST: '127.0.0.2', STRATA_CONFIG: file }
    const { config } = loadConfig(['--port', '7002', '--data-dir=/tmp/x'], env)
    expect(config.port).toBe(7002)
    expect(config.host).toBe('127.0.0.2')
    expect(config.segmentBytes).toBe(4096)
    expect(config.logLevel).toBe('debug')
    expect(config.dataDir).toBe('/tmp/x')
  })

  it('reports every problem in one INVALID_CONFIG error', () => {
    let caught: unknown
    try {
      loadConfig(['--port', 'abc', '--segment-bytes', '5', '--bogus', '1', '--log-level', 'loud'], {})
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(InvalidConfigError)
    const problems = (caught as InvalidConfigError).details?.problems as string[]
    expect(problems.some((p) => p.includes('--bogus'))).toBe(true)
    expect(problems.some((p) => p.startsWith('--port'))).toBe(true)
    expect(problems.some((p) => p.startsWith('--segment-bytes'))).toBe(true)
    expect(problems.some((p) => p.startsWith('--log-level'))).toBe(true)
  })

  it('checks rules that span options', () => {
    expect(() => loadConfig(['--etcd', 'http://127.0.0.1:2379'], {})).toThrow(/advertise-url/)
    expect(() =>
      loadConfig(['--group-min-session-timeout-ms', '5000', '--group-max-session-timeout-ms', '1000'], {}),
    ).toThrow(/must not exceed/)
    expect(() => loadConfig(['--default-partitions', '20', '--max-partitions-per-topic', '10'], {})).toThrow(
      '--default-partitions must not exceed --max-partitions-per-topic',
    )
  })

  it('names flags and variables from option names', () => {
    expect(kebabCase('maxRequestBytes')).toBe('max-request-bytes')
    expect(envName('maxRequestBytes')).toBe('STRATA_MAX_REQUEST_BYTES')
  })

  it('lists every option with its flag, variable and default in --help', () => {
    const help = serveHelp()
    for (const [name, doc] of Object.entries(optionDocs)) {
      expect(help).toContain(`--${kebabCase(name)}`)
      expect(help).toContain(envName(name))
      expect(help).toContain(`default: ${JSON.stringify(doc.default)}`)
    }
    expect(loadConfig(['--help'], {}).help).toBe(true)
  })
})
