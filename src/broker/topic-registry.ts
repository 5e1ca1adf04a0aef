/**
 * Topics and their metadata, persisted beside their partitions.
 *
 * On disk: `<data-dir>/<topic>/topic.json` holds `{name, partitions, replicationFactor, config,
 * createdAt}`; `<data-dir>/<topic>/<partition>/` are the partition logs. topic.json is written to a
 * temp file, fsynced, renamed over, and the directory fsynced, so a crash leaves the old or the new
 * file, never half of one. topic.json is written last, so a topic directory without it is a creation
 * that did not finish (never acknowledged); a failed creation removes its directory. A directory
 * found at load without topic.json, or with one that does not parse or names another topic, is
 * moved aside into `<data-dir>/__quarantine/` with a warning (kept for the operator, never loaded),
 * and the broker starts. Deletion renames the directory into `<data-dir>/__deleted/` first
 * (atomic: the topic is gone at once), then removes it in the background.
 *
 * Names starting with `__` are reserved for the broker's own topics (`__consumer_offsets`) and
 * folders (`__deleted`, `__metadata`, `__quarantine`), as Kafka reserves them.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { InvalidTopicNameError, TopicExistsError, TopicNotFoundError } from '../errors.js'
import { fsyncDirSync } from '../storage/index.js'

export interface TopicConfig {
  retentionMs?: number
  retentionBytes?: number
  segmentBytes?: number
  segmentMs?: number
  minInsyncReplicas?: number
}

export interface TopicMetadata {
  name: string
  partitions: number
  replicationFactor: number
  config: TopicConfig
  createdAt: number
}

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/
export const INTERNAL_PREFIX = '__'
const QUARANTINE_DIR = '__quarantine'
/** The broker's own folders in the data directory, never topics. */
const RESERVED_DIRS = new Set(['__metadata', '__deleted', QUARANTINE_DIR])

/**
 * The rule for topic (and exchange) names (docs/http-api.md, "What a request must look like");
 * `internal` allows the reserved `__` prefix.
 */
export function checkTopicName(name: string, opts: { internal?: boolean } = {}): void {
  if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw new InvalidTopicNameError(
      `topic name "${name}" must match [A-Za-z0-9._-]{1,249} and not be "." or ".."`,
      {
        name,
      },
    )
  }
  if (!opts.internal && name.startsWith(INTERNAL_PREFIX)) {
    throw new InvalidTopicNameError(
      `topic names starting with "${INTERNAL_PREFIX}" are reserved for the broker`,
      {
        name,
      },
    )
  }
}

/** Writes a small file atomically: temp file, fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, data)
  const fd = openSync(tmp, 'r+')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  await rename(tmp, path)
  fsyncDirSync(resolve(path, '..'))
}

export class TopicRegistry {
  readonly #dataDir: string
  readonly #topics = new Map<string, TopicMetadata>()

  constructor(dataDir: string) {
    this.#dataDir = resolve(dataDir)
  }

  get dataDir(): string {
    return this.#dataDir
  }

  /** The directory of a topic, checked to stay under the data directory whatever the name. */
  topicDir(name: string): string {
    const dir = resolve(this.#dataDir, name)
    if (!dir.startsWith(this.#dataDir + sep)) {
      throw new InvalidTopicNameError(`topic name "${name}" resolves outside the data directory`, { name })
    }
    return dir
  }

  partitionDir(name: string, partition: number): string {
    return join(this.topicDir(name), String(partition))
  }

  /**
   * Reads every topic's metadata. A topic directory that cannot be loaded is quarantined (see the
   * top of this file) and reported to `warn`; a topic.json that cannot be read at all (an I/O
   * error, not bad content) fails the load, since nothing can be decided about it.
   */
  async load(warn: (details: object, message: string) => void = () => {}): Promise<TopicMetadata[]> {
    await mkdir(this.#dataDir, { recursive: true })
    await rm(join(this.#dataDir, '__deleted'), { recursive: true, force: true })
    const entries = await readdir(this.#dataDir, { withFileTypes: true })
    for (const entry of entries) {
      // Only names a topic could have: a directory like `lost+found` is not ours to move.
      if (!entry.isDirectory() || RESERVED_DIRS.has(entry.name) || !TOPIC_NAME.test(entry.name)) continue
      const read = await this.#readMetadata(entry.name)
      if (typeof read !== 'string') {
        this.#topics.set(read.name, read)
        continue
      }
      const movedTo = await this.#quarantine(entry.name)
      warn(
        { topic: entry.name, problem: read, movedTo },
        `topic "${entry.name}" not loaded: ${read}; moved to ${movedTo}`,
      )
    }
    return this.list()
  }

  /** The topic's metadata, or why the directory is not a whole topic. */
  async #readMetadata(dirName: string): Promise<TopicMetadata | string> {
    let text: string
    try {
      text = await readFile(join(this.#dataDir, dirName, 'topic.json'), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return 'no topic.json (its creation did not finish)'
      throw err
    }
    let meta: TopicMetadata
    try {
      meta = JSON.parse(text) as TopicMetadata
    } catch {
      return 'topic.json is not valid JSON'
    }
    if (
      typeof meta !== 'object' ||
      meta === null ||
      !Number.isInteger(meta.partitions) ||
      meta.partitions < 1 ||
      typeof meta.config !== 'object'
    ) {
      return 'topic.json does not describe a topic'
    }
    if (meta.name !== dirName) return `topic.json names another topic ("${String(meta.name)}")`
    return meta
  }

  async #quarantine(dirName: string): Promise<string> {
    const quarantine = join(this.#dataDir, QUARANTINE_DIR)
    await mkdir(quarantine, { recursive: true })
    const target = join(quarantine, `${dirName}.${Date.now()}`)
    await rename(join(this.#dataDir, dirName), target)
    fsyncDirSync(this.#dataDir)
    return target
  }

  list(): TopicMetadata[] {
    return [...this.#topics.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  has(name: string): boolean {
    return this.#topics.has(name)
  }

  get(name: string): TopicMetadata {
    const meta = this.#topics.get(name)
    if (!meta) throw new TopicNotFoundError(`topic "${name}" does not exist`, { topic: name })
    return meta
  }

  async create(meta: TopicMetadata): Promise<TopicMetadata> {
    if (this.#topics.has(meta.name))
      throw new TopicExistsError(`topic "${meta.name}" already exists`, { topic: meta.name })
    const dir = this.topicDir(meta.name)
    // Claim the name first so a concurrent create of the same name fails fast.
    this.#topics.set(meta.name, meta)
    try {
      await mkdir(dir, { recursive: true })
      for (let p = 0; p < meta.partitions; p++) await mkdir(join(dir, String(p)), { recursive: true })
      fsyncDirSync(dir)
      await writeFileAtomic(join(dir, 'topic.json'), JSON.stringify(meta, null, 2))
      fsyncDirSync(this.#dataDir)
    } catch (err) {
      this.#topics.delete(meta.name)
      // Out of file descriptors even rm can fail; the next start quarantines what is left.
      await rm(dir, { recursive: true, force: true }).catch(() => undefined)
      throw err
    }
    return meta
  }

  /** Forgets the topic and moves its directory out of the way; the caller closed its partitions. */
  async delete(name: string): Promise<void> {
    this.get(name)
    this.#topics.delete(name)
    // The name goes one level down, not into the entry's name: a 249-character name plus a suffix
    // would pass the file system's 255-byte limit.
    const trash = join(this.#dataDir, '__deleted', `${Date.now()}-${randomBytes(4).toString('hex')}`)
    await mkdir(trash, { recursive: true })
    await rename(this.topicDir(name), join(trash, name))
    fsyncDirSync(this.#dataDir)
    rm(trash, { recursive: true, force: true }).catch(() => undefined)
  }
}
