import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { type AclRule, isAllowed } from '../../../src/auth/acl.js'
import { authPlugin } from '../../../src/auth/auth-plugin.js'

const options = {
  enabled: false,
  acls: () => [],
  context: { memberTopics: () => [], groupTopics: () => [] },
  metricsOpen: false,
}

describe('the route table is enforced at registration', () => {
  it('refuses a route that has no entry', async () => {
    const app = Fastify()
    await app.register(authPlugin, options)
    expect(() => app.get('/v1/forgotten', async () => 'open')).toThrow(
      'route GET /v1/forgotten has no entry in src/auth/route-permissions.ts',
    )
    await app.close()
  })

  it('accepts a route that has one', async () => {
    const app = Fastify()
    await app.register(authPlugin, options)
    app.get('/healthz', async () => 'ok')
    await app.ready()
    expect((await app.inject({ method: 'GET', url: '/healthz' })).body).toBe('ok')
    await app.close()
  })
})

describe('isAllowed', () => {
  const rule = (over: Partial<AclRule>): AclRule => ({
    id: 'x',
    principal: 'alice',
    operation: 'read',
    resourceType: 'topic',
    patternType: 'literal',
    name: 'orders',
    ...over,
  })
  const alice = { name: 'alice', superuser: false }

  it('matches literal, prefix, wildcard names and principals', () => {
    expect(isAllowed([rule({})], alice, { operation: 'read', resourceType: 'topic', name: 'orders' })).toBe(
      true,
    )
    expect(isAllowed([rule({})], alice, { operation: 'read', resourceType: 'topic', name: 'orders2' })).toBe(
      false,
    )
    const prefix = rule({ patternType: 'prefix', name: 'ord' })
    expect(isAllowed([prefix], alice, { operation: 'read', resourceType: 'topic', name: 'orders2' })).toBe(
      true,
    )
    expect(isAllowed([prefix], alice, { operation: 'read', resourceType: 'group', name: 'orders2' })).toBe(
      false,
    )
    const anyone = rule({ principal: '*', name: '*' })
    expect(
      isAllowed(
        [anyone],
        { name: 'bob', superuser: false },
        { operation: 'read', resourceType: 'topic', name: 'x' },
      ),
    ).toBe(true)
  })

  it('implies describe from any operation but nothing else', () => {
    const write = rule({ operation: 'write' })
    expect(isAllowed([write], alice, { operation: 'describe', resourceType: 'topic', name: 'orders' })).toBe(
      true,
    )
    expect(isAllowed([write], alice, { operation: 'read', resourceType: 'topic', name: 'orders' })).toBe(
      false,
    )
  })

  it('denies by default, lets superusers through, and keeps internal topics for superusers', () => {
    expect(isAllowed([], alice, { operation: 'read', resourceType: 'topic', name: 'orders' })).toBe(false)
    const root = { name: 'root', superuser: true }
    expect(
      isAllowed([], root, { operation: 'delete', resourceType: 'topic', name: '__consumer_offsets' }),
    ).toBe(true)
    const all = rule({ name: '__', patternType: 'prefix' })
    expect(
      isAllowed([all], alice, { operation: 'read', resourceType: 'topic', name: '__consumer_offsets' }),
    ).toBe(false)
  })
})
