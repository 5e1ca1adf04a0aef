/**
 * Password hashes and API tokens, with node:crypto only.
 *
 * Passwords: scrypt (N=2^15, r=8, p=1, 64-byte key) with a random 16-byte salt per user; the
 * parameters are stored with each hash so they can be raised later without breaking old ones.
 * scrypt runs on libuv's thread pool (async), so a login does not stall the event loop, and it is
 * compared with timingSafeEqual. An unknown user is checked against a dummy hash, so the answer
 * takes as long as for a known one and does not tell which user names exist.
 *
 * Tokens: `strata_<id>_<secret>`, 32 random bytes of secret. Only SHA-256 of the whole token is
 * stored: a token is random, not chosen by a person, so a slow hash would add nothing but cost on
 * every request. The id (public, in listings) finds the token without scanning every user.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

export interface PasswordHash {
  algorithm: 'scrypt'
  N: number
  r: number
  p: number
  salt: string
  hash: string
}

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 64 }
// N=2^15, r=8 needs 32 MiB; node's default cap is exactly 32 MiB, which scrypt's own overhead exceeds.
const SCRYPT_MAXMEM = 64 * 1024 * 1024

function derive(
  password: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFC'),
      salt,
      SCRYPT.keyLength,
      { N: params.N, r: params.r, p: params.p, maxmem: SCRYPT_MAXMEM },
      (err, key) => (err ? reject(err) : resolve(key)),
    )
  })
}

export async function hashPassword(password: string): Promise<PasswordHash> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, SCRYPT)
  return {
    algorithm: 'scrypt',
    N: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
    salt: salt.toString('base64'),
    hash: key.toString('base64'),
  }
}

let dummy: Promise<PasswordHash> | undefined

/** True when `password` matches `stored`; with no stored hash, spends the same time and says false. */
export async function verifyPassword(
  password: string,
  stored: PasswordHash | null | undefined,
): Promise<boolean> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'))
  const against = stored ?? (await dummy)
  const expected = Buffer.from(against.hash, 'base64')
  const key = await derive(password, Buffer.from(against.salt, 'base64'), against)
  return stored != null && key.length === expected.length && timingSafeEqual(key, expected)
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export interface NewToken {
  id: string
  /** The whole bearer token: shown once, never stored. */
  token: string
  digest: string
}

export function newToken(): NewToken {
  const id = randomBytes(6).toString('hex')
  const token = `strata_${id}_${randomBytes(32).toString('base64url')}`
  return { id, token, digest: sha256(token).toString('hex') }
}

/** The id part of a token, or undefined when it does not look like one of ours. */
export function tokenId(token: string): string | undefined {
  return /^strata_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/.exec(token)?.[1]
}

/** Constant-time comparison of a presented token against a stored SHA-256 hex digest. */
export function tokenMatches(token: string, digestHex: string): boolean {
  const expected = Buffer.from(digestHex, 'hex')
  const actual = sha256(token)
  return expected.length === actual.length && timingSafeEqual(actual, expected)
}
