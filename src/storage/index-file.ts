/**
 * The file side shared by the offset and time indexes: fixed-size entries, read whole at load,
 * rewritten whole when a segment becomes active, then appended entry by entry with writeSync.
 *
 * Thread: the partition's owner thread. Crash: index files are rebuildable from the .log and are
 * fsynced only at roll and close; the index classes validate what `readEntries` returns.
 */
import fs from 'node:fs'

/** The file's bytes when it exists and holds whole entries; undefined otherwise (rebuild it). */
export function readEntries(file: string, entrySize: number): Buffer | undefined {
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(file)
  } catch {
    return undefined
  }
  return bytes.length % entrySize === 0 ? bytes : undefined
}

/** The append handle of an index file; closed until `open` rewrites the file from memory. */
export class IndexFile {
  readonly path: string
  readonly #entrySize: number
  #fd: number | undefined

  constructor(path: string, entrySize: number) {
    this.path = path
    this.#entrySize = entrySize
  }

  get isOpen(): boolean {
    return this.#fd !== undefined
  }

  /** Writes `contents` as the whole file and keeps it open for appends. */
  open(contents: Buffer): void {
    this.rewrite(contents)
    this.#fd = fs.openSync(this.path, 'r+')
  }

  rewrite(contents: Buffer): void {
    fs.writeFileSync(this.path, contents)
  }

  /** Writes entry number `i` (its encoded bytes) in place, when the file is open. */
  writeEntry(i: number, bytes: Buffer): void {
    if (this.#fd !== undefined) fs.writeSync(this.#fd, bytes, 0, this.#entrySize, i * this.#entrySize)
  }

  fsync(): void {
    if (this.#fd !== undefined) fs.fsyncSync(this.#fd)
  }

  close(): void {
    if (this.#fd === undefined) return
    fs.closeSync(this.#fd)
    this.#fd = undefined
  }
}
