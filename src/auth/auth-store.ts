/**
 * Users, their API tokens and the ACLs: the state authentication and authorization read on every
 * request, kept in memory and persisted through a backend after each change.
 *
 * Single broker: `FileAuthBackend`, one JSON file `<data-dir>/__metadata/auth.json` (mode 0600)
 * rewritten whole and atomically after each change, like exchanges.json. Cluster mode: the backend
 * keeps it in etcd (etcd-auth-backend.ts) and `replace()` takes in what another broker wrote.
 *
 * On disk: `{version: 1, users: [{name, superuser, password: {algorithm, N, r, p, salt, hash} | null,
 * tokens: [{id, label, digest, createdAt}]}], acls: [{id, principal, operation, resourceType,
 * patternType, name}]}`. No secret is stored: passwords as scrypt hashes, tokens as SHA-256.
 *
 * Changes are serialized through one queue; a change is applied to a copy, written, and only then
 * becomes the state, so a failed write (STORAGE_ERROR) leaves nothing behind and readers never see
 * a state that was not persisted.
 */

import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { writeFileAtomic } from '../broker/topic-registry.js'
import { InvalidRequestError, NotFoundError, NotReadyError, StorageError } from '../errors.js'
import { type AclRule, Operations, PatternTypes, type Principal, ResourceTypes } from './acl.js'
import { hashPassword, newToken, type PasswordHash, tokenId, tokenMatches } from './secrets.js'

export interface TokenRecord {
  id: string
  label: string
  digest: string
  createdAt: number
}

export interface UserRecord {
  name: string
  superuser: boolean
  password: PasswordHash | null
  tokens: TokenRecord[]
}

export interface AuthSnapshot {
  version: 1
  users: UserRecord[]
  acls: AclRule[]
}

export interface AuthBackend {
  /** Where the state lives, for messages. */
  readonly where: string
  load(): Promise<AuthSnapshot>
  save(next: AuthSnapshot): Promise<void>
  /** Shared state (etcd): calls `onChange` with each state another broker writes. */
  watch?(onChange: (snapshot: AuthSnapshot) => void): Promise<void>
  close?(): Promise<void>
}

export const BOOTSTRAP_ADMIN = 'admin'
export const USER_NAME_PATTERN = '^[A-Za-z0-9._@-]{1,128}$'

export interface UserDescription {
  name: string
  superuser: boolean
  hasPassword: boolean
  tokens: Array<{ id: string; label: string; createdAt: number }>
}

export function emptySnapshot(): AuthSnapshot {
  return { version: 1, users: [], acls: [] }
}

/** The first thing wrong with a parsed snapshot, or undefined. */
export function snapshotProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object'
  const { version, users, acls } = value as Record<string, unknown>
  if (version !== 1) return `unsupported version ${JSON.stringify(version)}`
  if (!Array.isArray(users)) return '"users" is not an array'
  if (!Array.isArray(acls)) return '"acls" is not an array'
  for (const [i, user] of users.entries()) {
    const u = (user ?? {}) as Record<string, unknown>
    if (typeof u.name !== 'string' || typeof u.superuser !== 'boolean' || !Array.isArray(u.tokens)) {
      return `users[${i}] needs name, superuser and tokens`
    }
  }
  for (const [i, acl] of acls.entries()) {
    const a = (acl ?? {}) as Record<string, unknown>
    if (
      typeof a.id !== 'string' ||
      typeof a.principal !== 'string' ||
      typeof a.name !== 'string' ||
      !Operations.includes(a.operation as never) ||
      !ResourceTypes.includes(a.resourceType as never) ||
      !PatternTypes.includes(a.patternType as never)
    ) {
      return `acls[${i}] is not a valid rule`
    }
  }
  return undefined
}

export class FileAuthBackend implements AuthBackend {
  readonly where: string

  constructor(readonly file: string) {
    this.where = file
  }

  async load(): Promise<AuthSnapshot> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptySnapshot()
      throw new StorageError(`cannot read ${this.file}`, { file: this.file }, { cause: err })
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new StorageError(`${this.file} is corrupt: not valid JSON`, { file: this.file }, { cause: err })
    }
    const problem = snapshotProblem(parsed)
    if (problem) throw new StorageError(`${this.file} is corrupt: ${problem}`, { file: this.file })
    return parsed as AuthSnapshot
  }

  async save(next: AuthSnapshot): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true })
    await writeFileAtomic(this.file, `${JSON.stringify(next, null, 2)}\n`)
    // Hashes only, but still nobody else's business.
    await chmod(this.file, 0o600)
  }
}

export class AuthStore {
  readonly #backend: AuthBackend
  #state: AuthSnapshot = emptySnapshot()
  #tokensById = new Map<string, { user: UserRecord; token: TokenRecord }>()
  #queue: Promise<unknown> = Promise.resolve()

  constructor(backend: AuthBackend) {
    this.#backend = backend
  }

  async load(): Promise<void> {
    this.replace(await this.#backend.load())
    await this.#backend.watch?.((snapshot) => this.replace(snapshot))
  }

  async close(): Promise<void> {
    await this.#backend.close?.()
  }

  /** Takes in a state written elsewhere (another broker, through etcd). */
  replace(snapshot: AuthSnapshot): void {
    this.#state = snapshot
    this.#tokensById = new Map()
    for (const user of snapshot.users) {
      for (const token of user.tokens) this.#tokensById.set(token.id, { user, token })
    }
  }

  get snapshot(): AuthSnapshot {
    return this.#state
  }

  get acls(): readonly AclRule[] {
    return this.#state.acls
  }

  user(name: string): UserRecord | undefined {
    return this.#state.users.find((u) => u.name === name)
  }

  principalOf(user: UserRecord): Principal {
    return { name: user.name, superuser: user.superuser }
  }

  /** The user a bearer token belongs to, or undefined (unknown, revoked, malformed). */
  userForToken(token: string): UserRecord | undefined {
    const id = tokenId(token)
    const found = id === undefined ? undefined : this.#tokensById.get(id)
    if (!found || !tokenMatches(token, found.token.digest)) return undefined
    return found.user
  }

  describeUsers(): UserDescription[] {
    return this.#state.users.map(describeUser)
  }

  describeUser(name: string): UserDescription {
    return describeUser(this.#existing(this.#state, name))
  }

  /** Creates superuser `admin` when there are no users at all; false when there were some. */
  async bootstrapAdmin(password: string): Promise<boolean> {
    const hash = await hashPassword(password)
    const attempt = () =>
      this.#change((next) => {
        if (next.users.length > 0) return false
        next.users.push({ name: BOOTSTRAP_ADMIN, superuser: true, password: hash, tokens: [] })
        return true
      })
    try {
      return await attempt()
    } catch (err) {
      // Brokers of a new cluster start together: another one may have created the admin first
      // (the backend re-read the state on the conflict), and then there is nothing left to do.
      if (!(err instanceof NotReadyError)) throw err
      return attempt()
    }
  }

  async createUser(input: {
    name: string
    password?: string
    superuser?: boolean
  }): Promise<UserDescription> {
    const hash = input.password === undefined ? null : await hashPassword(input.password)
    return this.#change((next) => {
      if (next.users.some((u) => u.name === input.name)) {
        throw new InvalidRequestError(`user "${input.name}" already exists`, { user: input.name })
      }
      const user: UserRecord = {
        name: input.name,
        superuser: input.superuser ?? false,
        password: hash,
        tokens: [],
      }
      next.users.push(user)
      return describeUser(user)
    })
  }

  async updateUser(
    name: string,
    input: { password?: string; superuser?: boolean },
  ): Promise<UserDescription> {
    const hash = input.password === undefined ? undefined : await hashPassword(input.password)
    return this.#change((next) => {
      const user = this.#existing(next, name)
      if (hash !== undefined) user.password = hash
      if (input.superuser !== undefined) {
        if (!input.superuser) this.#keepASuperuser(next, name)
        user.superuser = input.superuser
      }
      return describeUser(user)
    })
  }

  deleteUser(name: string): Promise<void> {
    return this.#change((next) => {
      this.#existing(next, name)
      this.#keepASuperuser(next, name)
      next.users = next.users.filter((u) => u.name !== name)
      next.acls = next.acls.filter((a) => a.principal !== name)
    })
  }

  createToken(
    userName: string,
    label: string,
  ): Promise<{ id: string; label: string; createdAt: number; token: string }> {
    return this.#change((next) => {
      const user = this.#existing(next, userName)
      const made = newToken()
      const record: TokenRecord = { id: made.id, label, digest: made.digest, createdAt: Date.now() }
      user.tokens.push(record)
      return { id: record.id, label, createdAt: record.createdAt, token: made.token }
    })
  }

  revokeToken(userName: string, id: string): Promise<void> {
    return this.#change((next) => {
      const user = this.#existing(next, userName)
      const before = user.tokens.length
      user.tokens = user.tokens.filter((t) => t.id !== id)
      if (user.tokens.length === before) {
        throw new NotFoundError(`user "${userName}" has no token ${id}`, { user: userName, token: id })
      }
    })
  }

  addAcl(rule: Omit<AclRule, 'id'>): Promise<AclRule> {
    return this.#change((next) => {
      const same = next.acls.find(
        (a) =>
          a.principal === rule.principal &&
          a.operation === rule.operation &&
          a.resourceType === rule.resourceType &&
          a.patternType === rule.patternType &&
          a.name === rule.name,
      )
      if (same) return same
      const added: AclRule = { id: randomBytes(6).toString('hex'), ...rule }
      next.acls.push(added)
      return added
    })
  }

  removeAcl(id: string): Promise<void> {
    return this.#change((next) => {
      const before = next.acls.length
      next.acls = next.acls.filter((a) => a.id !== id)
      if (next.acls.length === before) throw new NotFoundError(`no ACL ${id}`, { acl: id })
    })
  }

  #existing(state: AuthSnapshot, name: string): UserRecord {
    const user = state.users.find((u) => u.name === name)
    if (!user) throw new NotFoundError(`user "${name}" does not exist`, { user: name })
    return user
  }

  /** Nobody could manage users any more: refuse to remove or demote the last superuser. */
  #keepASuperuser(state: AuthSnapshot, leaving: string): void {
    if (!state.users.some((u) => u.superuser && u.name !== leaving)) {
      throw new InvalidRequestError(`"${leaving}" is the last superuser; make another one first`, {
        user: leaving,
      })
    }
  }

  #change<R>(apply: (next: AuthSnapshot) => R): Promise<R> {
    const run = this.#queue.then(async () => {
      const next = structuredClone(this.#state)
      const result = apply(next)
      try {
        await this.#backend.save(next)
      } catch (err) {
        if (err instanceof StorageError || err instanceof NotReadyError) throw err
        throw new StorageError(
          `cannot write ${this.#backend.where}`,
          { where: this.#backend.where },
          { cause: err },
        )
      }
      this.replace(next)
      return result
    })
    this.#queue = run.catch(() => undefined)
    return run
  }
}

function describeUser(user: UserRecord): UserDescription {
  return {
    name: user.name,
    superuser: user.superuser,
    hasPassword: user.password !== null,
    tokens: user.tokens.map((t) => ({ id: t.id, label: t.label, createdAt: t.createdAt })),
  }
}
