/**
 * `strata consume <topic>`: print a topic's records, as a group member (`--group`) or as a plain
 * reader of every partition.
 *
 * Without `--follow` the command ends once it has read up to the high watermark each partition
 * had when it started, so `consume` in a script is a finite read of "what is there now". With
 * `--group` it joins the group (taking the partitions the group gives it), starts at the group's
 * committed offsets, and commits what it printed only with `--auto-commit`: without it the command
 * only looks, and the group's position stays where it was. `--from` with `--group` first moves the
 * group's offsets (the group must have no other members).
 */
import { Admin } from '../../client/admin.js'
import type { BrokerClient } from '../../client/broker-client.js'
import { Consumer } from '../../client/consumer.js'
import { type StartPosition, TopicReader } from '../../client/topic-reader.js'
import type { ConsumerRecord, TopicPartition } from '../../client/types.js'
import {
  type CommandSpec,
  flag,
  intOption,
  noExtraPositionals,
  parseWhole,
  requirePositional,
  stringOption,
} from '../args.js'
import { type CommandContext, ExitCodes, UsageError } from '../context.js'
import { formatCount, formatValue, Progress, toJson, write } from '../output.js'

export const consume: CommandSpec = {
  path: ['consume'],
  args: '<topic>',
  summary: 'Print records of a topic, as a plain reader or as a member of a consumer group.',
  details: [
    'Without --follow the command stops at the end of what the topic held when it started.',
    'People get one line per record: [partition:offset] key=KEY VALUE.',
    '--json prints one JSON object per line: {topic, partition, offset, timestamp, key, value, headers}.',
  ].join('\n'),
  interruptible: true,
  options: {
    group: { type: 'string', value: 'GROUP', description: 'consume as a member of this consumer group' },
    from: {
      type: 'string',
      value: 'WHERE',
      description: "'earliest' (default without --group), 'latest', or an offset for every partition",
    },
    follow: { type: 'boolean', short: 'f', description: 'keep waiting for new records until interrupted' },
    'auto-commit': { type: 'boolean', description: 'with --group: commit the records printed (ack)' },
    max: { type: 'string', value: 'N', description: 'stop after N records' },
    partition: { type: 'string', value: 'N', description: 'without --group: read only this partition' },
  },
  examples: [
    'strata consume orders --json > orders.ndjson',
    'strata consume orders --group billing --auto-commit --follow',
    'strata consume orders --from latest --follow',
  ],
  async run(ctx) {
    const topic = requirePositional(ctx, 0, 'topic', this)
    noExtraPositionals(ctx, 1, this)
    const group = stringOption(ctx, 'group')
    const from = parseFrom(stringOption(ctx, 'from'))
    const max = intOption(ctx, 'max', undefined, 1)
    if (group === undefined && flag(ctx, 'auto-commit'))
      throw new UsageError('--auto-commit needs --group', 'consume')
    if (group !== undefined && stringOption(ctx, 'partition') !== undefined) {
      throw new UsageError(
        '--partition cannot be combined with --group (the group assigns partitions)',
        'consume',
      )
    }
    const printer = new RecordPrinter(ctx)
    const done = () => max !== undefined && printer.count >= max
    if (group === undefined) await readTopic(ctx, topic, from ?? 'earliest', printer, done)
    else await readAsGroup(ctx, topic, group, from, printer, done)
    printer.finish()
    if (!ctx.json) await write(ctx.io.stderr, `consumed ${formatCount(printer.count)} records\n`)
    return ctx.signal.aborted ? ExitCodes.INTERRUPTED : ExitCodes.OK
  },
}

async function readTopic(
  ctx: CommandContext,
  topic: string,
  from: StartPosition,
  printer: RecordPrinter,
  done: () => boolean,
): Promise<void> {
  const partition = stringOption(ctx, 'partition')
  const reader = new TopicReader(ctx.client(), {
    topics: topic,
    from,
    follow: flag(ctx, 'follow'),
    ...(partition !== undefined && { partitions: [parseWhole(partition, '--partition')] }),
  })
  const stop = () => void reader.close()
  ctx.signal.addEventListener('abort', stop, { once: true })
  try {
    while (!done()) {
      const next = await reader.next()
      if (next.done) break
      await printer.print(next.value)
    }
  } finally {
    ctx.signal.removeEventListener('abort', stop)
    await reader.close()
  }
}

async function readAsGroup(
  ctx: CommandContext,
  topic: string,
  group: string,
  from: StartPosition | undefined,
  printer: RecordPrinter,
  done: () => boolean,
): Promise<void> {
  const client = ctx.client()
  if (from !== undefined) await moveGroup(client, group, topic, from)
  const autoCommit = flag(ctx, 'auto-commit')
  const follow = flag(ctx, 'follow')
  // --auto-commit acks what was printed (commit() below), not whole fetched batches as the
  // consumer's autoCommit (the broker's auto ack) would: `--max 3` must not ack a 4th record.
  const consumer = new Consumer(client, {
    group,
    topics: [topic],
    maxWaitMs: follow ? 1_000 : 250,
  })
  const stop = () => {
    const acked = autoCommit ? consumer.commit().catch(() => undefined) : Promise.resolve()
    void acked.finally(() => consumer.close().catch(() => undefined))
  }
  ctx.signal.addEventListener('abort', stop, { once: true })
  try {
    await consumer.connect()
    const end = follow ? undefined : await endOfGroup(client, group, topic, consumer)
    while (!done() && !end?.caughtUp()) {
      const next = await consumer.next()
      if (next.done) break
      end?.seen(next.value)
      await printer.print(next.value)
    }
    if (autoCommit && !consumer.closed) await consumer.commit()
  } finally {
    ctx.signal.removeEventListener('abort', stop)
    await consumer.close()
  }
}

/**
 * "Read everything there is now" for a group member: true once each partition the member owns is
 * read up to the high watermark it had at the start, counting from the group's committed offset.
 */
async function endOfGroup(
  client: BrokerClient,
  group: string,
  topic: string,
  consumer: Consumer,
): Promise<{ caughtUp: () => boolean; seen: (record: ConsumerRecord) => void }> {
  const [description, committed] = await Promise.all([
    client.describeTopic(topic),
    client.groupOffsets(group).catch(() => []),
  ])
  const key = (tp: TopicPartition) => `${tp.topic}\u0000${tp.partition}`
  const ends = new Map(
    description.partitions.map((p) => [key({ topic, partition: p.partition }), p.highWatermark]),
  )
  const positions = new Map(
    description.partitions.map((p) => [key({ topic, partition: p.partition }), p.logStartOffset]),
  )
  for (const c of committed) if (typeof c.committed === 'number') positions.set(key(c), c.committed)
  return {
    caughtUp: () =>
      consumer.assignments.every((a) => (positions.get(key(a)) ?? 0) >= (ends.get(key(a)) ?? 0)),
    seen: (record) => void positions.set(key(record), record.offset + 1),
  }
}

async function moveGroup(
  client: BrokerClient,
  group: string,
  topic: string,
  from: StartPosition,
): Promise<void> {
  const admin = new Admin(client)
  if (from === 'earliest' || from === 'latest') await admin.resetGroupOffsets(group, topic, from)
  else if ('timestamp' in from) await admin.resetGroupOffsets(group, topic, from.timestamp)
  else {
    const { partitions } = await admin.describeTopic(topic)
    await admin.setGroupOffsets(
      group,
      partitions.map((p) => ({ topic, partition: p.partition, offset: from.offset })),
    )
  }
}

function parseFrom(raw: string | undefined): StartPosition | undefined {
  if (raw === undefined) return undefined
  if (raw === 'earliest' || raw === 'latest') return raw
  return { offset: parseWhole(raw, '--from') }
}

/** One line per record, NDJSON with --json; a progress line on long runs to a terminal. */
class RecordPrinter {
  count = 0
  readonly #ctx: CommandContext
  readonly #progress: Progress

  constructor(ctx: CommandContext) {
    this.#ctx = ctx
    this.#progress = new Progress(ctx.io, 'consume', undefined, ctx.json)
  }

  async print(record: ConsumerRecord): Promise<void> {
    this.count++
    const line = this.#ctx.json
      ? toJson({
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          timestamp: record.timestamp,
          key: record.key,
          value: record.value,
          headers: record.headers,
        })
      : `[${record.partition}:${record.offset}]${record.key === null || record.key === undefined ? '' : ` key=${formatValue(record.key)}`} ${formatValue(record.value)}`
    this.#progress.clear()
    await write(this.#ctx.io.stdout, `${line}\n`)
    this.#progress.tick()
  }

  finish(): void {
    this.#progress.done()
  }
}
