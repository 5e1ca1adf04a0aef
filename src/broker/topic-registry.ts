/**
 * Topics and their metadata, persisted beside their partitions.
 *
 * On disk: `<data-dir>/<topic>/topic.json` holds `{name, partitions, replicationFactor, config,
 * createdAt}`; `<data-dir>/<topic>/<partition>/` are the partition logs. topic.json is written to a
 * temp file, fsynced, renamed over, and the directory fsynced, so a crash leaves the old or the new
 * file, never half of one. A topic directory without topic.json (a crash during creation) is
 * ignored at load and removed. Deletion renames the directory into `<data-dir>/__deleted/` first
 * (atomic: the topic is gone at once), then removes it in the background.
 *
 * Names starting with `__` are reserved for the broker's own topics (`__consumer_offsets`) and
 * folders (`__deleted`, `__metadata`), as Kafka reserves them.
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

/** API.md's rule for topic (and exchange) names; `internal` allows the reserved `__` prefix. */
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

  async load(): Promise<TopicMetadata[]> {
    await mkdir(this.#dataDir, { recursive: true })
    await rm(join(this.#dataDir, '__deleted'), { recursive: true, force: true })
    const entries = await readdir(this.#dataDir, { withFileTypes: true })
    for (const entry of entries) {
      if (!entry.isDirectory() || entry.name === '__metadata') continue
      const meta = await this.#readMetadata(entry.name)
      if (meta) this.#topics.set(meta.name, meta)
    }
    return this.list()
  }

  async #readMetadata(dirName: string): Promise<TopicMetadata | undefined> {
    try {
      const meta = JSON.parse(
        await readFile(join(this.#dataDir, dirName, 'topic.json'), 'utf8'),
      ) as TopicMetadata
      return meta.name === dirName ? meta : undefined
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // A topic whose creation did not finish: it was never acknowledged, so it goes.
        await rm(join(this.#dataDir, dirName), { recursive: true, force: true })
        return undefined
      }
      throw err
    }
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
      await rm(dir, { recursive: true, force: true })
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
