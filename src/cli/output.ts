/**
 * How the CLI prints: aligned tables for people, JSON for scripts, and a progress line on long
 * runs only when a person is watching.
 *
 * JSON output follows the API's JSON convention: bytes become `{"$base64": "…"}` and a BigInt past
 * 2^53 becomes a string, so a script can always `JSON.parse` what it got. Writes to stdout wait
 * for the stream to drain, so piping a large `consume --json` into a slow reader holds bounded memory.
 * The progress line goes to stderr and only when both stdout and stderr are terminals: a script
 * that captures output never sees it, and it never mixes into piped data.
 */
import type { CliIo, OutputStream } from './context.js'

export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, jsonReplacer, indent)
}

function jsonReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key]
  if (raw instanceof Uint8Array)
    return { $base64: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') }
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  if (value instanceof Map) return Object.fromEntries(value)
  return value
}

/** Writes and, when the stream's buffer is full, waits for it to drain. */
export function write(stream: OutputStream, text: string): Promise<void> | undefined {
  if (stream.write(text)) return undefined
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('error', done)
      stream.off('close', done)
      resolve()
    }
    stream.once('drain', done)
    stream.once('error', done)
    stream.once('close', done)
  })
}

export async function printJson(io: CliIo, value: unknown): Promise<void> {
  await write(io.stdout, `${toJson(value, 2)}\n`)
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function renderTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => row.map(cellText))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)))
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'))
  const line = (row: readonly string[]) =>
    row
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return `${[line(headers), ...cells.map(line)].join('\n')}\n`
}

function cellText(v: unknown): string {
  if (v === undefined || v === null) return '-'
  if (Array.isArray(v)) return v.map(cellText).join(',')
  if (typeof v === 'object' && !(v instanceof Uint8Array)) return toJson(v)
  return formatValue(v)
}

/** A record key or value for people: text as text, bytes as text when printable, else base64. */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null) return 'null'
  if (typeof v === 'string') return v
  if (v instanceof Uint8Array) {
    const text = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting binary is the point.
    const printable = !text.includes('\uFFFD') && !/[\u0000-\u0008\u000e-\u001f]/.test(text)
    return printable ? text : `base64:${Buffer.from(v).toString('base64')}`
  }
  if (typeof v === 'object') return toJson(v)
  return String(v)
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

export function formatRate(count: number, ms: number): string {
  return ms <= 0 ? '-' : `${formatCount((count * 1000) / ms)}/s`
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

// Shown only after this long, so quick runs print nothing extra.
const PROGRESS_DELAY_MS = 500
const PROGRESS_REDRAW_MS = 100
const BAR_WIDTH = 24

/** A one-line progress bar with rate on stderr, drawn only when a person watches a long run. */
export class Progress {
  readonly #stream: OutputStream
  readonly #label: string
  readonly #total: number | undefined
  readonly #enabled: boolean
  readonly #started = Date.now()
  #count = 0
  #lastDraw = 0
  #drawn = false

  constructor(io: CliIo, label: string, total: number | undefined, json: boolean) {
    this.#stream = io.stderr
    this.#label = label
    this.#total = total
    this.#enabled = !json && io.stdout.isTTY === true && io.stderr.isTTY === true
  }

  get count(): number {
    return this.#count
  }

  tick(n = 1): void {
    this.#count += n
    if (!this.#enabled) return
    const now = Date.now()
    if (now - this.#started < PROGRESS_DELAY_MS || now - this.#lastDraw < PROGRESS_REDRAW_MS) return
    this.#lastDraw = now
    this.#draw(now)
  }

  /** Removes the line, e.g. before printing something else to the terminal. */
  clear(): void {
    if (!this.#drawn) return
    this.#stream.write('\r\u001b[2K')
    this.#drawn = false
  }

  done(): void {
    this.clear()
  }

  #draw(now: number): void {
    const elapsed = now - this.#started
    const rate = formatRate(this.#count, elapsed)
    let line: string
    if (this.#total !== undefined && this.#total > 0) {
      const ratio = Math.min(1, this.#count / this.#total)
      const filled = Math.round(ratio * BAR_WIDTH)
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`
      line = `${this.#label} ${bar} ${Math.floor(ratio * 100)}% ${formatCount(this.#count)}/${formatCount(this.#total)} ${rate}`
    } else {
      line = `${this.#label} ${formatCount(this.#count)} records ${rate}`
    }
    this.#stream.write(`\r\u001b[2K${line}`)
    this.#drawn = true
  }
}
