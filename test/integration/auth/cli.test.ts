/**
 * `strata users|tokens|acls` against a real broker with --auth, with credentials from
 * STRATA_USERNAME/STRATA_PASSWORD and STRATA_TOKEN, and never printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BrokerProcess } from '../../helpers/broker-process.js'
import { cli } from '../cli/cli-io.js'
import { ADMIN_PASSWORD, startAuthBroker } from './auth-helpers.js'

let broker: BrokerProcess
let asAdmin: Record<string, string>

beforeAll(async () => {
  broker = await startAuthBroker()
  asAdmin = { STRATA_URL: broker.url, STRATA_USERNAME: 'admin', STRATA_PASSWORD: ADMIN_PASSWORD }
}, 60_000)

afterAll(async () => {
  await broker?.stop()
})

describe('strata users, tokens and acls', () => {
  it('without credentials a command fails with UNAUTHENTICATED (exit 1)', async () => {
    const run = await cli(['topics', 'list'], { env: { STRATA_URL: broker.url } })
    expect(run.code).toBe(1)
    expect(run.stderr).toBe('strata: UNAUTHENTICATED: credentials required: HTTP Basic or a Bearer token\n')
  })

  it('creates a user, a token, an ACL; the token then works within the ACL only', async () => {
    const created = await cli(['users', 'create', 'carol', '--password-stdin'], {
      env: asAdmin,
      stdin: 'carol-password\n',
    })
    expect(created).toEqual({ code: 0, stdout: 'user carol created\n', stderr: '' })
    const token = await cli(['tokens', 'create', 'carol', '--label', 'ci'], { env: asAdmin })
    expect(token.code).toBe(0)
    expect(token.stdout).toMatch(/^strata_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n$/)
    const asCarol = { STRATA_URL: broker.url, STRATA_TOKEN: token.stdout.trim() }

    expect(await cli(['users', 'whoami'], { env: asCarol })).toEqual({
      code: 0,
      stdout: 'carol\n',
      stderr: '',
    })
    const denied = await cli(['topics', 'create', 'reports-daily'], { env: asCarol })
    expect(denied.code).toBe(1)
    expect(denied.stderr).toBe('strata: FORBIDDEN: carol may not create topic "reports-daily"\n')

    const acl = await cli(
      [
        'acls',
        'add',
        '--principal',
        'carol',
        '--operation',
        'create',
        '--resource-type',
        'topic',
        '--name',
        'reports-',
        '--prefix',
      ],
      { env: asAdmin },
    )
    expect(acl.code).toBe(0)
    expect(acl.stdout).toMatch(/^acl [0-9a-f]{12}: carol may create topic reports-\*\n$/)
    const made = await cli(['topics', 'create', 'reports-daily'], { env: asCarol })
    expect(made).toEqual({
      code: 0,
      stdout: 'topic reports-daily: 1 partition(s), replication factor 1\n',
      stderr: '',
    })

    const listed = await cli(['acls', 'list', '--json'], { env: asAdmin })
    const rules = JSON.parse(listed.stdout)
    expect(rules).toEqual([
      {
        id: expect.any(String),
        principal: 'carol',
        operation: 'create',
        resourceType: 'topic',
        patternType: 'prefix',
        name: 'reports-',
      },
    ])
    expect((await cli(['acls', 'remove', rules[0].id], { env: asAdmin })).code).toBe(0)
    expect((await cli(['topics', 'create', 'reports-weekly'], { env: asCarol })).code).toBe(1)

    const tokens = JSON.parse((await cli(['tokens', 'list', 'carol', '--json'], { env: asAdmin })).stdout)
    expect(tokens).toEqual([{ id: expect.any(String), label: 'ci', createdAt: expect.any(Number) }])
    expect((await cli(['tokens', 'revoke', 'carol', tokens[0].id], { env: asAdmin })).code).toBe(0)
    const revoked = await cli(['users', 'whoami'], { env: asCarol })
    expect(revoked.stderr).toBe('strata: UNAUTHENTICATED: unknown or revoked token\n')

    const users = await cli(['users', 'list'], { env: asAdmin })
    expect(users.stdout).toContain('carol')
    expect(users.stdout).not.toContain('carol-password')
    expect((await cli(['users', 'delete', 'carol'], { env: asAdmin })).stdout).toBe('user carol deleted\n')
  })
})
