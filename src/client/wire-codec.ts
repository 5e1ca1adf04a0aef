/**
 * Bodies on the wire: MessagePack by default, JSON on request.
 *
 * The options mirror the broker's (`src/wire/record-codec.ts`) so a value comes back exactly
 * as it was sent: no msgpackr records or structured-clone extensions (another client could not
 * read them, and the broker refuses them), maps decode to plain objects, and 64-bit integers
 * decode to numbers while they are safe and to BigInt past 2^53 (`int64AsType: 'auto'`), so a
 * BigInt sent is a BigInt received and no large id silently loses digits. Properties whose value
 * is `undefined` are left out and `undefined` inside arrays becomes nil, as `JSON.stringify`
 * does, so an optional field set to `undefined` never reaches the broker as an unknown extension.
 * Decoding is never `trusted`: a body cannot create classes on this side.
 *
 * JSON mode writes bytes as `{"$base64": "…"}` and reads that shape back into a Buffer, the
 * convention docs/http-api.md gives for JSON readers ("MessagePack conventions"), so both
 * encodings hand the application the same values.
 */
import { type Options, Packr } from 'msgpackr'

export const Encodings = {
  MSGPACK: 'msgpack',
  JSON: 'json',
} as const

export type Encoding = (typeof Encodings)[keyof typeof Encodings]

export const ContentTypes = {
  msgpack: 'application/vnd.msgpack',
  json: 'application/json',
} as const satisfies Record<Encoding, string>

// `skipValues` and `int64AsType: 'auto'` exist in msgpackr 2 but are missing from its typings.
const packrOptions = {
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  int64AsType: 'auto',
  skipValues: [undefined],
  encodeUndefinedAsNil: true,
} as unknown as Options

const packr = new Packr(packrOptions)

export function encodeBody(encoding: Encoding, body: unknown): Buffer {
  if (encoding === Encodings.MSGPACK) return packr.pack(body)
  return Buffer.from(JSON.stringify(body, jsonReplacer))
}

/** Decodes a response body by its content type; an empty body is `undefined`. */
export function decodeBody(contentType: string | undefined, bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  if (type.endsWith('msgpack')) return packr.unpack(bytes)
  if (type === 'application/json' || type.endsWith('+json'))
    return JSON.parse(bytes.toString('utf8'), jsonReviver)
  return bytes.toString('utf8')
}

function jsonReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // `this[key]` is the value before `Buffer#toJSON` turned it into `{type, data}`.
  const raw = this[key]
  if (raw instanceof Uint8Array)
    return { $base64: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') }
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  return value
}

function jsonReviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value)
    const b64 = (value as { $base64?: unknown }).$base64
    if (keys.length === 1 && typeof b64 === 'string') return Buffer.from(b64, 'base64')
  }
  return value
}
