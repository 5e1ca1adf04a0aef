/**
 * CLI output rules that need no broker: the progress line appears only on a terminal, only after
 * a run got long, and never with --json; tables align; JSON carries bytes as {$base64} and large
 * BigInts as strings, as the API's JSON convention does.
 */
import { PassThrough, Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import type { CliIo } from '../../../src/cli/context.js'
import { formatValue, Progress, renderTable, toJson } from '../../../src/cli/output.js'

function io(tty: boolean): { io: CliIo; stderr: () => string } {
  let err = ''
  const stderr = Object.assign(new PassThrough(), { isTTY: tty })
  stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const stdout = Object.assign(new PassThrough(), { isTTY: tty })
  return { io: { stdout, stderr, stdin: Readable.from([]), env: {} }, stderr: () => err }
}

describe('Progress', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  test('draws a bar with rate on a terminal once the run is long', async () => {
    const t = io(true)
    const progress = new Progress(t.io, 'produce', 1000, false)
    progress.tick(10)
    await vi.advanceTimersByTimeAsync(1000)
    progress.tick(490)
    await Promise.resolve()
    expect(t.stderr()).toMatch(/produce .*50% 500\/1,000 .*\/s/)
    progress.done()
    await Promise.resolve()
    expect(t.stderr().endsWith('\r\u001b[2K')).toBe(true)
  })

  test('stays silent on short runs, off a terminal, and with --json', async () => {
    const short = io(true)
    new Progress(short.io, 'x', 10, false).tick(10)
    const piped = io(false)
    const json = io(true)
    const a = new Progress(piped.io, 'x', 10, false)
    const b = new Progress(json.io, 'x', 10, true)
    await vi.advanceTimersByTimeAsync(1000)
    a.tick()
    b.tick()
    await Promise.resolve()
    expect(short.stderr() + piped.stderr() + json.stderr()).toBe('')
  })
})

describe('formatting', () => {
  test('tables pad columns and right-align numbers', () => {
    expect(
      renderTable(
        ['NAME', 'N'],
        [
          ['a', 1],
          ['longer', 100],
        ],
      ),
    ).toBe('NAME      N\na         1\nlonger  100\n')
  })

  test('JSON follows the API convention for bytes and big integers', () => {
    expect(toJson({ b: Buffer.from('hi'), n: 2n ** 70n, s: 5n })).toBe(
      '{"b":{"$base64":"aGk="},"n":"1180591620717411303424","s":5}',
    )
  })

  test('values for people: text as text, binary as base64', () => {
    expect(formatValue('x')).toBe('x')
    expect(formatValue(Buffer.from('plain'))).toBe('plain')
    expect(formatValue(Buffer.from([0, 255, 1]))).toBe('base64:AP8B')
    expect(formatValue({ a: 1 })).toBe('{"a":1}')
    expect(formatValue(null)).toBe('null')
  })
})
