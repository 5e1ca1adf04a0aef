/** The MessagePack body check (src/server/msgpack-check.ts): what it lets through and what it refuses. */
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../../../src/errors.js'
import { checkMsgpackBody, MAX_DEPTH } from '../../../src/server/msgpack-check.js'

const packr = new Packr({ useRecords: false, useFloat32: 0 })

const accepted = [
  null,
  true,
  0,
  -1,
  -33,
  255,
  65_536,
  2 ** 40,
  -(2 ** 40),
  2n ** 63n - 1n,
  1.5,
  '',
  'x'.repeat(40),
  'y'.repeat(300),
  'z'.repeat(70_000),
  Buffer.alloc(10),
  Buffer.alloc(300),
  Buffer.alloc(70_000),
  [],
  Array.from({ length: 20 }, (_, i) => i),
  Array.from({ length: 70_000 }, () => 1),
  {},
  Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  { records: [{ key: 'k', value: { nested: [{ a: [1, { b: 'c' }] }] }, headers: { h: 'v' } }] },
  new Date(0),
  new Date(1_700_000_000_123),
  new Date(-1500),
  new Date(8.64e15),
  { unset: undefined, list: [undefined] },
]

describe('checkMsgpackBody', () => {
  it.each(accepted.map((v, i) => [i, v]))('lets value %i through', (_index, value) => {
    expect(() => checkMsgpackBody(packr.pack(value))).not.toThrow()
  })

  it('refuses every truncation of a valid body', () => {
    const body = packr.pack({ records: [{ value: { a: [1, 'two', Buffer.from([3])], at: new Date(5) } }] })
    for (let length = 0; length < body.length; length++) {
      expect(() => checkMsgpackBody(body.subarray(0, length)), `length ${length}`).toThrow(
        InvalidRequestError,
      )
    }
  })

  it('refuses bytes after the value, 0xc1, and counts larger than the body', () => {
    expect(() => checkMsgpackBody(Buffer.from([0x01, 0x02]))).toThrow(/follow the body's value/)
    expect(() => checkMsgpackBody(Buffer.from([0xc1]))).toThrow(/not a MessagePack type/)
    expect(() => checkMsgpackBody(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00]))).toThrow(/claims/)
  })

  it(`refuses nesting deeper than ${MAX_DEPTH}`, () => {
    const deep = (levels: number) => Buffer.concat([Buffer.alloc(levels, 0x91), Buffer.from([0x00])])
    expect(() => checkMsgpackBody(deep(MAX_DEPTH))).not.toThrow()
    expect(() => checkMsgpackBody(deep(MAX_DEPTH + 1))).toThrow(/nest deeper/)
  })
})
