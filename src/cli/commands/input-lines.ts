/**
 * Lines to send, from `--file` or stdin, for `produce` and `exchanges publish`.
 *
 * Each non-empty line is one record. `--value-format json` parses the line as a JSON value (so a
 * record's value can be a map or a number); `--key-separator` splits a key off the front of each
 * line, as Kafka's console producer does with `parse.key`.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { OptionSpec } from '../args.js'
import { UsageError } from '../context.js'

export const INPUT_OPTIONS: Record<string, OptionSpec> = {
  file: {
    type: 'string',
    value: 'PATH',
    description: 'read records from this file, one per line (default stdin)',
  },
  'value-format': {
    type: 'string',
    value: 'FORMAT',
    description: "'string' (default): each line is the value; 'json': each line is parsed as JSON",
  },
  'key-separator': {
    type: 'string',
    value: 'SEP',
    description: 'split each line at the first SEP into key and value',
  },
  header: { type: 'string', multiple: true, value: 'NAME=VALUE', description: 'a header on every record' },
}

export interface LineRecord {
  key?: unknown
  value: unknown
  headers?: Record<string, string>
}

export type LineParser = (line: string, lineNumber: number) => LineRecord

export function lineParser(options: {
  valueFormat: string | undefined
  keySeparator: string | undefined
  headers: string[]
}): LineParser {
  const format = options.valueFormat ?? 'string'
  if (format !== 'string' && format !== 'json') {
    throw new UsageError(`--value-format must be 'string' or 'json', got '${format}'`)
  }
  const headers = parseHeaders(options.headers)
  const sep = options.keySeparator
  if (sep === '') throw new UsageError('--key-separator must not be empty')
  return (line, lineNumber) => {
    let key: string | undefined
    let rest = line
    if (sep !== undefined) {
      const at = line.indexOf(sep)
      if (at >= 0) {
        key = line.slice(0, at)
        rest = line.slice(at + sep.length)
      }
    }
    let value: unknown = rest
    if (format === 'json') {
      try {
        value = JSON.parse(rest)
      } catch {
        throw new UsageError(`line ${lineNumber} is not valid JSON: ${rest.slice(0, 60)}`)
      }
    }
    return { ...(key !== undefined && { key }), value, ...(headers && { headers }) }
  }
}

/** Non-empty lines with their 1-based line numbers. */
export async function* readLines(
  file: string | undefined,
  stdin: Readable,
  signal: AbortSignal,
): AsyncGenerator<[string, number]> {
  const input = file === undefined ? stdin : createReadStream(file)
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
  // An interrupt while waiting for a line (an interactive stdin) ends the input.
  const stop = () => rl.close()
  signal.addEventListener('abort', stop, { once: true })
  let n = 0
  try {
    for await (const line of rl) {
      n++
      if (line !== '') yield [line, n]
    }
  } finally {
    signal.removeEventListener('abort', stop)
    rl.close()
    if (file !== undefined) (input as ReturnType<typeof createReadStream>).destroy()
  }
}

function parseHeaders(pairs: string[]): Record<string, string> | undefined {
  if (pairs.length === 0) return undefined
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--header expects NAME=VALUE, got '${pair}'`)
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}
