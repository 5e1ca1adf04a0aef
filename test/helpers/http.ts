/** Small HTTP helpers for tests: JSON and MessagePack requests against a broker URL. */
import { Packr, Unpackr } from 'msgpackr'

const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'bigint' })

export interface Reply<T = any> {
  status: number
  body: T
  headers: Headers
}

export async function jsonRequest<T = any>(url: string, method: string, body?: unknown): Promise<Reply<T>> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
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
