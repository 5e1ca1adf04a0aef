import { describe, expect, it } from 'vitest'
import { isLoopbackHost, loadConfig } from '../../../src/config/load-config.js'

describe('auth options', () => {
  it('--auth and --insecure are switches: no value needed, `false` turns them off', () => {
    expect(loadConfig(['--auth', '--port', '9000'], {}).config).toMatchObject({ auth: true, port: 9000 })
    expect(loadConfig(['--auth', 'false'], {}).config.auth).toBe(false)
    expect(loadConfig(['--auth=false'], { STRATA_AUTH: 'true' }).config.auth).toBe(false)
    expect(loadConfig([], { STRATA_AUTH: 'true' }).config.auth).toBe(true)
    expect(loadConfig(['--host', '0.0.0.0', '--insecure'], {}).config.insecure).toBe(true)
  })

  it('an address beyond loopback needs --auth or --insecure; a cluster with --auth needs the inter-broker token', () => {
    expect(() => loadConfig(['--host', '10.0.0.5'], {})).toThrow(/--host 10\.0\.0\.5 without --auth/)
    expect(loadConfig(['--host', '10.0.0.5', '--auth'], {}).config.host).toBe('10.0.0.5')
    expect(() =>
      loadConfig(['--auth', '--etcd', 'http://127.0.0.1:2379', '--advertise-url', 'http://127.0.0.1:1'], {}),
    ).toThrow('--inter-broker-token (or STRATA_INTER_BROKER_TOKEN) is required with --auth and --etcd')
  })

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      expect(isLoopbackHost(host)).toBe(true)
    for (const host of ['0.0.0.0', '::', '192.168.1.4', 'example.com'])
      expect(isLoopbackHost(host)).toBe(false)
  })
})
