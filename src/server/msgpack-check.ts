/**
 * A MessagePack request body is walked once, byte by byte, before msgpackr decodes it, and refused
 * (400 INVALID_REQUEST) when decoding would be costly or would change what the client sent:
 *
 * - Extension types other than the standard timestamp (-1) and JavaScript's `undefined` as
 *   msgpackr and notepack write it (type 0, one zero byte). msgpackr decodes many of its own
 *   (0x42 BigInt, whose decoding of a few MB blocks the event loop for seconds; Set, Map, RegExp,
 *   Error, typed arrays, records, structured-clone references) into objects a record would store
 *   re-encoded in another shape, and any other type is unknown.
 * - Timestamps a JavaScript Date cannot hold exactly: sub-millisecond nanoseconds, or seconds out
 *   of Date's range (±8.64e15 ms; msgpackr turns a year-2^62 timestamp into 1970).
 * - Map keys that are not strings (an integer key would come back as a string) and the key
 *   `__proto__` (msgpackr renames it to keep it off the prototype).
 * - Nesting deeper than MAX_DEPTH, counts larger than the bytes left, truncated bodies, the unused
 *   byte 0xc1 and bytes after the value.
 *
 * The walk is iterative and reads each byte at most once, so its cost is linear in the body and
 * independent of what the values would cost to build.
 */

import { InvalidRequestError } from '../errors.js'
import { wireUnpackr } from '../wire/record-codec.js'

/** Deep enough for any real record value; recursive decoders and renderers stay far from the stack limit. */
export const MAX_DEPTH = 256

const TIMESTAMP_EXT = 0xff // ext type -1
const UNDEFINED_EXT = 0x00
const MAX_DATE_MS = 8.64e15
const PROTO_KEY = Buffer.from('__proto__')
/** Bytes after the type byte of float32, float64, uint8–64 and int8–64 (0xca–0xd3). */
const FIXED_SIZES = [4, 8, 1, 2, 4, 8, 1, 2, 4, 8]

interface Frame {
  /** Values still to read in this container (a map counts keys and values). */
  left: number
  map: boolean
}

function refuse(reason: string, position: number): never {
  throw new InvalidRequestError(`body is not accepted MessagePack: ${reason} (at byte ${position})`, {
    reason,
    position,
  })
}

/** Throws INVALID_REQUEST unless `body` is one MessagePack value that decodes exactly and cheaply. */
export function checkMsgpackBody(body: Uint8Array): void {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const end = body.length
  const stack: Frame[] = []
  let frame: Frame = { left: 1, map: false }
  let pos = 0

  const need = (bytes: number, at: number): void => {
    if (at + bytes > end) refuse('the body ends inside a value', at)
  }
  const open = (count: number, map: boolean, at: number): void => {
    const values = map ? count * 2 : count
    // Every value takes at least one byte: a count past the bytes left is a lie, refused before
    // anything is allocated for it.
    if (values > end - pos) refuse(`a ${map ? 'map' : 'array'} claims ${count} entries`, at)
    if (values === 0) return
    if (stack.length >= MAX_DEPTH) refuse(`values nest deeper than ${MAX_DEPTH} levels`, at)
    stack.push(frame)
    frame = { left: values, map }
  }
  const skip = (bytes: number): void => {
    need(bytes, pos)
    pos += bytes
  }
  /** A big-endian length of 1, 2 or 4 bytes at `pos` (str, bin, ext, array and map headers). */
  const readLength = (width: number): number => {
    need(width, pos)
    const length =
      width === 1 ? (body[pos] as number) : width === 2 ? view.getUint16(pos) : view.getUint32(pos)
    pos += width
    return length
  }

  for (;;) {
    while (frame.left === 0) {
      const parent = stack.pop()
      if (parent === undefined) {
        if (pos !== end) refuse(`${end - pos} bytes follow the body's value`, pos)
        return
      }
      frame = parent
    }
    const isKey = frame.map && frame.left % 2 === 0
    frame.left--
    const at = pos
    need(1, at)
    const b = body[pos++] as number
    if (isKey) {
      let length: number
      if (b >= 0xa0 && b <= 0xbf) length = b & 0x1f
      else if (b >= 0xd9 && b <= 0xdb) length = readLength(1 << (b - 0xd9))
      else refuse('map keys must be strings (other keys would come back as strings)', at)
      need(length, pos)
      if (length === PROTO_KEY.length && PROTO_KEY.equals(body.subarray(pos, pos + length))) {
        refuse('the map key "__proto__" is not accepted', at)
      }
      pos += length
      continue
    }
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue
    if (b <= 0x8f) open(b & 0x0f, true, at)
    else if (b <= 0x9f) open(b & 0x0f, false, at)
    else if (b <= 0xbf) skip(b & 0x1f)
    else if (b >= 0xc4 && b <= 0xc6) skip(readLength(1 << (b - 0xc4)))
    else if (b >= 0xd9 && b <= 0xdb) skip(readLength(1 << (b - 0xd9)))
    else if (b >= 0xca && b <= 0xd3) skip(FIXED_SIZES[b - 0xca] as number)
    else if (b === 0xdc || b === 0xdd) open(readLength(b === 0xdc ? 2 : 4), false, at)
    else if (b === 0xde || b === 0xdf) open(readLength(b === 0xde ? 2 : 4), true, at)
    else if (b >= 0xd4 && b <= 0xd8) pos = checkExt(body, pos, 1 << (b - 0xd4), at)
    else if (b >= 0xc7 && b <= 0xc9) {
      const length = readLength(1 << (b - 0xc7))
      pos = checkExt(body, pos, length, at)
    } else refuse(`0x${b.toString(16)} is not a MessagePack type`, at)
  }
}

/** Checks an extension value whose type byte is at `pos`; returns the position after its data. */
function checkExt(body: Uint8Array, pos: number, length: number, at: number): number {
  if (pos + 1 + length > body.length) refuse('the body ends inside a value', at)
  const type = body[pos] as number
  // JavaScript clients send `undefined` (a field left unset) this way; it decodes, and packs, back to itself.
  if (type === UNDEFINED_EXT && length === 1 && body[pos + 1] === 0) return pos + 2
  if (type !== TIMESTAMP_EXT) {
    const signed = type > 127 ? type - 256 : type
    refuse(
      `MessagePack extension type ${signed} is not accepted: records carry plain MessagePack values and ` +
        'timestamps (extension -1) only, so that they come back exactly as sent (send big integers as ' +
        'int64/uint64, a string or bytes)',
      at,
    )
  }
  const data = body.subarray(pos + 1, pos + 1 + length)
  checkTimestamp(data, at)
  return pos + 1 + length
}

/** A timestamp is accepted only when msgpackr's Date holds exactly the instant the bytes name. */
function checkTimestamp(data: Uint8Array, at: number): void {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  let seconds: bigint
  let nanos: number
  if (data.length === 4) {
    seconds = BigInt(view.getUint32(0))
    nanos = 0
  } else if (data.length === 8) {
    const high = view.getUint32(0)
    nanos = high >>> 2
    seconds = (BigInt(high & 0x3) << 32n) | BigInt(view.getUint32(4))
  } else if (data.length === 12) {
    nanos = view.getUint32(0)
    seconds = view.getBigInt64(4)
  } else {
    refuse(`a timestamp of ${data.length} bytes is not a MessagePack timestamp (4, 8 or 12)`, at)
  }
  if (nanos >= 1e9) refuse('a timestamp has more than 999999999 nanoseconds', at)
  if (nanos % 1e6 !== 0) {
    refuse('timestamps are kept to the millisecond: this one has sub-millisecond nanoseconds', at)
  }
  const ms = seconds * 1000n + BigInt(nanos / 1e6)
  if (ms > BigInt(MAX_DATE_MS) || ms < -BigInt(MAX_DATE_MS)) {
    refuse('a timestamp is outside the range a date can hold (±8.64e15 ms around 1970)', at)
  }
  // The bytes are well within Date's range here; what msgpackr builds must be that very instant.
  const ext = Buffer.concat([Buffer.from([0xc7, data.length, TIMESTAMP_EXT]), data])
  const decoded = (wireUnpackr.unpack(ext) as Date).getTime()
  if (!Number.isFinite(decoded) || BigInt(decoded) !== ms)
    refuse('a timestamp does not decode to the instant it names', at)
}
