/**
 * Reading for the end-to-end benchmarks: a consumer-group member through the client library's
 * Consumer (autoCommit: each record is committed once the next is asked for, the commits riding
 * on the next fetch; a final commit() at the end), or, on a broker without consumer groups yet, a
 * TopicReader on the partitions (no commits) — the result says which was used.
 */

/** Manual ack commits every this many deliveries (and what is left at stop), as the peers ack. */
const ACK_EVERY = 100

/**
 * Starts reading `topic` and calls `onRecord(record, now)` for each record. Resolves `done` once
 * `expect` records were seen (when given). `stop()` commits what was read and leaves.
 */
export async function subscribe(
  lib,
  url,
  {
    group,
    topic,
    hasGroups,
    expect,
    onRecord,
    maxRecords = 500,
    maxBytes = 1024 * 1024,
    maxWaitMs = 500,
    ack = 'auto',
  },
) {
  const manual = ack === 'manual'
  const client = new lib.BrokerClient({ urls: url })
  const reader = hasGroups
    ? new lib.Consumer(client, {
        group,
        topics: [topic],
        autoCommit: !manual,
        maxRecords,
        maxBytes,
        maxWaitMs,
        sessionTimeoutMs: 30_000,
      })
    : new lib.TopicReader(client, {
        topics: [topic],
        from: 'earliest',
        follow: true,
        maxRecords,
        maxBytes,
        maxWaitMs,
      })
  if (hasGroups) await reader.connect()
  else await reader.start()
  let seen = 0
  let resolveDone
  let rejectDone
  const done = new Promise((res, rej) => {
    resolveDone = res
    rejectDone = rej
  })
  let lastAt = 0
  let stopping = false
  const loop = (async () => {
    try {
      for await (const record of reader) {
        lastAt = performance.now()
        seen++
        onRecord?.(record, lastAt)
        // Manual ack as the peers of bench/compare ack (every ACK_EVERY deliveries): commit(record)
        // covers everything before it in its partition, not awaited, riding on the next fetch.
        if (manual && seen % ACK_EVERY === 0) reader.commit(record)
        if (expect !== undefined && seen === expect) resolveDone(lastAt)
      }
    } catch (err) {
      if (!stopping) rejectDone(err)
    }
  })()
  return {
    kind: hasGroups
      ? manual
        ? `consumer-group member (client Consumer, manual ack: commit(record) every ${ACK_EVERY} records, riding on the next fetch)`
        : 'consumer-group member (client Consumer, autoCommit)'
      : 'partition reader (client TopicReader; broker has no groups yet, no commits)',
    done,
    get seen() {
      return seen
    },
    get lastAt() {
      return lastAt
    },
    async stop() {
      stopping = true
      if (hasGroups) await reader.commit().catch(() => undefined)
      await reader.close()
      await loop
      await client.close()
    },
  }
}

/** Resolves when `promise` does, or rejects after `ms` with `what` in the message. */
export function within(promise, ms, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${what} did not finish within ${ms} ms`)), ms)
    }),
  ])
}
