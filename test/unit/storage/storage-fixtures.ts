/**
 * Shared fixtures for the storage unit tests: a fresh temp directory per test (removed after),
 * small configs that make segments roll after a few batches, and batch builders whose record
 * bodies are recognisable bytes.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test as base } from 'vitest'
import type { LogConfig } from '../../../src/storage/partition-log.js'
import { type BatchInput, buildBatch } from '../../../src/storage/record-batch.js'

export const test = base.extend<{ dir: string }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads fixture dependencies from this pattern
  dir: async ({}, use) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-storage-'))
    await use(dir)
    fs.rmSync(dir, { recursive: true, force: true })
  },
})

/** Segments roll every few batches; index entries every ~2 batches. */
export const smallConfig: LogConfig = {
  segmentBytes: 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  retentionMs: -1,
  retentionBytes: -1,
  indexIntervalBytes: 200,
}

export const defaultConfig: LogConfig = {
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 3600 * 1000,
  retentionMs: -1,
  retentionBytes: -1,
  indexIntervalBytes: 4096,
}

/** A record body: `size` bytes starting with the tag's text, so reads can be matched to writes. */
export function recordBody(tag: string, size = 20): Buffer {
  const body = Buffer.alloc(Math.max(size, tag.length), 0x2e)
  body.write(tag)
  return body
}

/** A batch of `count` records tagged `${tag}-${i}`. */
export function batchOf(tag: string, count = 1, extra: Omit<BatchInput, 'records'> = {}): Buffer {
  const records = Array.from({ length: count }, (_, i) => recordBody(`${tag}-${i}`))
  return buildBatch({ firstTimestamp: 1_700_000_000_000, ...extra, records })
}

export function logFile(dir: string, baseOffset: number): string {
  return path.join(dir, `${String(baseOffset).padStart(20, '0')}.log`)
}

export function listLogs(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.log'))
    .sort()
}
