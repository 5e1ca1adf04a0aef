/**
 * Topic creation is all or nothing (issue 11 item 5): when a partition fails to open (EMFILE, say),
 * the partitions already opened are closed and the topic leaves nothing on disk or in the registry,
 * without telling exchanges and groups of a deletion (for them it never existed).
 */
import fs from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Broker } from '../../../src/broker/broker.js'
import { defaultConfig } from '../../../src/config/schema.js'
import { InProcessRouter, type PartitionRouter } from '../../../src/workers/worker-router.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

/** An in-process router whose `open` of one partition fails as when the process is out of fds. */
function routerFailingOpen(failing: number): { router: PartitionRouter; open: Set<number> } {
  const inner = new InProcessRouter()
  const open = new Set<number>()
  const router: PartitionRouter = {
    kind: inner.kind,
    request: (async (req: Parameters<PartitionRouter['request']>[0]) => {
      if (req.op === 'open' && req.partition === failing) {
        throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' })
      }
      const answer = await inner.request(req)
      if (req.op === 'open') open.add(req.partition)
      if (req.op === 'close') open.delete(req.partition)
      return answer
    }) as PartitionRouter['request'],
    stats: () => inner.stats(),
    retention: (nowMs) => inner.retention(nowMs),
    onEvent: (listener) => inner.onEvent(listener),
    close: () => inner.close(),
  }
  return { router, open }
}

describe('item 5: atomic topic creation', () => {
  it('item 5: a topic whose partitions do not all open is removed from disk and registry, its opened partitions closed', async () => {
    const dataDir = fs.mkdtempSync(path.join(tmpdir(), 'strata-atomic-'))
    dirs.push(dataDir)
    const { router, open } = routerFailingOpen(3)
    const broker = new Broker({ ...defaultConfig(), dataDir, workers: 0 }, router)
    await broker.start()
    const deleted: string[] = []
    broker.onTopicDeleted((topic) => {
      deleted.push(topic)
    })
    await expect(broker.createTopic({ name: 'partial', partitions: 5 })).rejects.toThrow('EMFILE')
    expect(broker.topics.has('partial')).toBe(false)
    expect(open.size).toBe(0)
    // It never existed for exchanges or groups: they are not told of a deletion.
    expect(deleted).toEqual([])
    expect(fs.readdirSync(dataDir).filter((name) => !name.startsWith('__'))).toEqual([])
    // The name is free again, and a later start finds nothing of it.
    await broker.createTopic({ name: 'partial', partitions: 2 })
    await broker.close()
  })
})
