/**
 * docs/http-api.md is the project's reference of error codes: its table and src/errors.ts must say
 * the same, both ways (every code documented, every documented code real, the same status and
 * retriability), and `Retry-After` must be set for exactly the codes the table marks.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../../src/errors.js'
import { RETRY_AFTER_CODES } from '../../../src/server/plugins/error-handler.js'

interface DocumentedCode {
  status: number
  code: string
  retriable: boolean
  retryAfter: boolean
}

function documentedCodes(): DocumentedCode[] {
  const doc = readFileSync(resolve(import.meta.dirname, '../../../docs/http-api.md'), 'utf8')
  const errors = doc.slice(doc.indexOf('\n## Errors'))
  const section = errors.slice(0, errors.indexOf('\n## ', 1) === -1 ? undefined : errors.indexOf('\n## ', 1))
  const rows: DocumentedCode[] = []
  for (const line of section.split('\n')) {
    const m = /^\| (\d{3}) \| `([A-Z_]+)` \| (yes|no) \| (yes|no) \| .+ \|$/.exec(line)
    if (m)
      rows.push({
        status: Number(m[1]),
        code: m[2] as string,
        retriable: m[3] === 'yes',
        retryAfter: m[4] === 'yes',
      })
    else if (/^\| \d/.test(line)) throw new Error(`a row of the error table does not parse: ${line}`)
  }
  return rows
}

describe('docs/http-api.md error table', () => {
  const rows = documentedCodes()

  it('documents every code of src/errors.ts, once', () => {
    expect(rows.map((r) => r.code).sort()).toEqual(Object.keys(ErrorCodes).sort())
  })

  it('documents only codes that exist, with their status and retriability', () => {
    for (const row of rows) {
      expect(Object.hasOwn(ErrorCodes, row.code), row.code).toBe(true)
      const actual = ErrorCodes[row.code as keyof typeof ErrorCodes]
      expect({ status: actual.status, retriable: actual.retriable }, row.code).toEqual({
        status: row.status,
        retriable: row.retriable,
      })
    }
  })

  it('marks Retry-After for exactly the codes the error handler sets it on', () => {
    expect(
      rows
        .filter((r) => r.retryAfter)
        .map((r) => r.code)
        .sort(),
    ).toEqual([...RETRY_AFTER_CODES].sort())
  })
})
