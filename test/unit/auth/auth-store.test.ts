import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type AuthBackend,
  type AuthSnapshot,
  AuthStore,
  emptySnapshot,
  FileAuthBackend,
} from '../../../src/auth/auth-store.js'
import { Authenticator } from '../../../src/auth/authenticator.js'
import { tokenId, verifyPassword } from '../../../src/auth/secrets.js'
import { SessionStore } from '../../../src/auth/sessions.js'
import { StorageError, UnauthenticatedError } from '../../../src/errors.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function fileStore(): { store: AuthStore; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'strata-auth-'))
  dirs.push(dir)
  const file = join(dir, '__metadata', 'auth.json')
  return { store: new AuthStore(new FileAuthBackend(file)), file }
}

describe('AuthStore', () => {
  it('keeps scrypt hashes and token digests only, and reloads the same state', async () => {
    const { store, file } = fileStore()
    await store.load()
    await store.createUser({ name: 'alice', password: 'alice-password' })
    const made = await store.createToken('alice', 'ci')
    expect(tokenId(made.token)).toBe(made.id)
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain('alice-password')
    expect(text).not.toContain(made.token)
    const again = new AuthStore(new FileAuthBackend(file))
    await again.load()
    expect(again.userForToken(made.token)?.name).toBe('alice')
    expect(await verifyPassword('alice-password', again.user('alice')?.password)).toBe(true)
    expect(await verifyPassword('alice-passwort', again.user('alice')?.password)).toBe(false)
    expect(again.userForToken(`${made.token.slice(0, -1)}A`)).toBeUndefined()
  })

  it('a failed write changes nothing', async () => {
    let failing = false
    const saved: AuthSnapshot[] = []
    const backend: AuthBackend = {
      where: 'test',
      load: async () => emptySnapshot(),
      save: async (next) => {
        if (failing) throw new Error('disk full')
        saved.push(next)
      },
    }
    const store = new AuthStore(backend)
    await store.load()
    await store.createUser({ name: 'alice', superuser: true })
    failing = true
    await expect(store.createUser({ name: 'bob' })).rejects.toBeInstanceOf(StorageError)
    await expect(
      store.addAcl({
        principal: 'alice',
        operation: 'read',
        resourceType: 'topic',
        patternType: 'literal',
        name: 'x',
      }),
    ).rejects.toThrow('cannot write test')
    expect(store.describeUsers().map((u) => u.name)).toEqual(['alice'])
    expect(store.acls).toEqual([])
    expect(saved).toHaveLength(1)
  })

  it('refuses to remove or demote the last superuser', async () => {
    const { store } = fileStore()
    await store.load()
    await store.bootstrapAdmin('admin-password')
    await expect(store.deleteUser('admin')).rejects.toThrow(
      '"admin" is the last superuser; make another one first',
    )
    await expect(store.updateUser('admin', { superuser: false })).rejects.toThrow('last superuser')
    expect(await store.bootstrapAdmin('another-password')).toBe(false)
  })
})

describe('Authenticator', () => {
  it('a remembered Basic check ends as soon as the password changes or the user goes', async () => {
    const { store } = fileStore()
    await store.load()
    await store.createUser({ name: 'alice', password: 'first-password', superuser: true })
    await store.createUser({ name: 'root', superuser: true })
    const auth = new Authenticator(store, new SessionStore(), '')
    const basic = (password: string) => ({
      authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}`,
      safeMethod: true,
    })
    expect(await auth.authenticate(basic('first-password'))).toEqual({ name: 'alice', superuser: true })
    expect(await auth.authenticate(basic('first-password'))).toEqual({ name: 'alice', superuser: true })
    await store.updateUser('alice', { password: 'second-password' })
    await expect(auth.authenticate(basic('first-password'))).rejects.toBeInstanceOf(UnauthenticatedError)
    expect(await auth.authenticate(basic('second-password'))).toEqual({ name: 'alice', superuser: true })
    await store.deleteUser('alice')
    await expect(auth.authenticate(basic('second-password'))).rejects.toThrow('wrong user name or password')
  })

  it('takes the inter-broker token as a superuser, and nothing without credentials', async () => {
    const { store } = fileStore()
    await store.load()
    const auth = new Authenticator(store, new SessionStore(), 'shared-secret')
    expect(await auth.authenticate({ authorization: 'Bearer shared-secret', safeMethod: true })).toEqual({
      name: '__broker',
      superuser: true,
    })
    await expect(
      auth.authenticate({ authorization: 'Bearer shared-secreT', safeMethod: true }),
    ).rejects.toThrow('unknown or revoked token')
    await expect(auth.authenticate({ authorization: 'Digest x', safeMethod: true })).rejects.toThrow(
      'unsupported authorization scheme: use Basic or Bearer',
    )
    expect(await auth.authenticate({ safeMethod: true })).toBeUndefined()
  })
})
