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
  if (encoding === Encodings.MSGPACK) return hasRecords(body) ? packRecordsBody(body) : packr.pack(body)
  return Buffer.from(JSON.stringify(body, jsonReplacer))
}

type RecordsBody = { records: readonly unknown[] } & Record<string, unknown>

function hasRecords(body: unknown): body is RecordsBody {
  return isPlainObject(body) && Array.isArray(body.records)
}

/**
 * A produce or publish body, packed as `packr` would pack it (maps of the properties that are not
 * `undefined`), but with the records' maps and their byte values written here: msgpackr walks a
 * map of many small objects at several times the cost of copying their bytes, and these bodies are
 * most of what a producer spends its CPU on. Every other value goes through `packr`.
 */
function packRecordsBody(body: RecordsBody): Buffer {
  const out = new ByteWriter(estimateBodyBytes(body.records))
  const keys = definedKeys(body)
  out.mapHeader(keys.length)
  for (const key of keys) {
    out.key(key)
    if (key !== 'records') {
      out.value(body[key])
      continue
    }
    out.arrayHeader(body.records.length)
    for (const record of body.records) {
      if (!isPlainObject(record)) {
        out.value(record)
        continue
      }
      const fields = definedKeys(record)
      out.mapHeader(fields.length)
      for (const field of fields) {
        out.key(field)
        out.value(record[field])
      }
    }
  }
  return out.done()
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype
}

/** The keys `packr` writes: those whose value is not `undefined` (`skipValues`). */
function definedKeys(object: Record<string, unknown>): string[] {
  const keys = Object.keys(object)
  for (const key of keys) if (object[key] === undefined) return keys.filter((k) => object[k] !== undefined)
  return keys
}

function estimateBodyBytes(records: readonly unknown[]): number {
  let size = 64
  for (const r of records) {
    const value = (r as { value?: unknown } | null)?.value
    size += 48 + (value instanceof Uint8Array ? value.length : 16)
  }
  return size
}

const packedKeys = new Map<string, Buffer>()

/** A growing buffer of MessagePack. */
class ByteWriter {
  #buf: Buffer
  #pos = 0

  constructor(size: number) {
    this.#buf = Buffer.allocUnsafe(size)
  }

  done(): Buffer {
    return this.#buf.subarray(0, this.#pos)
  }

  key(key: string): void {
    this.#bytes(packedKey(key))
  }

  arrayHeader(length: number): void {
    this.#header(length, 0x90, undefined, 0xdc, 0xdd)
  }

  mapHeader(size: number): void {
    this.#header(size, 0x80, undefined, 0xde, 0xdf)
  }

  /** Bytes as a bin (as msgpackr writes a Uint8Array), anything else through `packr`. */
  value(value: unknown): void {
    if (!(value instanceof Uint8Array)) {
      this.#bytes(packr.pack(value))
      return
    }
    this.#header(value.length, undefined, 0xc4, 0xc5, 0xc6)
    this.#bytes(value)
  }

  /** A length in its shortest form: `fix | length` below 16 (maps, arrays), else 8, 16 or 32 bits. */
  #header(
    length: number,
    fix: number | undefined,
    tag8: number | undefined,
    tag16: number,
    tag32: number,
  ): void {
    this.#room(5)
    const buf = this.#buf
    if (fix !== undefined && length < 16) buf[this.#pos++] = fix | length
    else if (tag8 !== undefined && length < 0x100) {
      buf[this.#pos] = tag8
      buf[this.#pos + 1] = length
      this.#pos += 2
    } else if (length < 0x10000) {
      buf[this.#pos] = tag16
      buf.writeUInt16BE(length, this.#pos + 1)
      this.#pos += 3
    } else {
      buf[this.#pos] = tag32
      buf.writeUInt32BE(length, this.#pos + 1)
      this.#pos += 5
    }
  }

  #bytes(bytes: Uint8Array): void {
    this.#room(bytes.length)
    this.#buf.set(bytes, this.#pos)
    this.#pos += bytes.length
  }

  #room(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + bytes))
    this.#buf.copy(grown, 0, 0, this.#pos)
    this.#buf = grown
  }
}

/** A map key's MessagePack bytes; the few keys bodies use are packed once. */
function packedKey(key: string): Buffer {
  let bytes = packedKeys.get(key)
  if (bytes === undefined) {
    bytes = packr.pack(key)
    if (packedKeys.size < 64) packedKeys.set(key, bytes)
  }
  return bytes
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
