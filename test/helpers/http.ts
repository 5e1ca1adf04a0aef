/** Small HTTP helpers for tests: JSON and MessagePack requests against a broker URL. */
import { Packr, Unpackr } from 'msgpackr'

const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'bigint' })

/**
 * `STRATA_TEST_AUTH=1` runs the cluster suite against brokers started with --auth (cluster.ts):
 * every helper request then carries the bootstrap admin's credentials.
 */
export const TEST_AUTH = process.env.STRATA_TEST_AUTH === '1'
export const TEST_ADMIN_PASSWORD = 'test-admin-password'
export const TEST_INTER_BROKER_TOKEN = 'test-inter-broker-token'
export const testCredentials = (): { username?: string; password?: string } =>
  TEST_AUTH ? { username: 'admin', password: TEST_ADMIN_PASSWORD } : {}
export const authHeaders = (): Record<string, string> =>
  TEST_AUTH
    ? { authorization: `Basic ${Buffer.from(`admin:${TEST_ADMIN_PASSWORD}`).toString('base64')}` }
    : {}

export interface Reply<T = any> {
  status: number
  body: T
  headers: Headers
}

export async function jsonRequest<T = any>(url: string, method: string, body?: unknown): Promise<Reply<T>> {
  const res = await fetch(url, {
    method,
    headers: { ...authHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers }
}

export async function msgpackRequest<T = any>(
  url: string,
  method: string,
  body?: unknown,
): Promise<Reply<T>> {
  const res = await fetch(url, {
    method,
    headers: {
      ...authHeaders(),
      accept: 'application/vnd.msgpack',
      ...(body === undefined ? {} : { 'content-type': 'application/vnd.msgpack' }),
    },
    body: body === undefined ? null : packr.pack(body),
  })
  const bytes = Buffer.from(await res.arrayBuffer())
  return { status: res.status, body: bytes.length ? unpackr.unpack(bytes) : undefined, headers: res.headers }
}

export const pack = (v: unknown): Buffer => packr.pack(v)
export const unpack = (b: Buffer): unknown => unpackr.unpack(b)
