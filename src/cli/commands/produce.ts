/**
 * `strata produce <topic>`: one record per input line, sent through the client's batching
 * producer, confirmed at `--acks`.
 *
 * Lines are sent as separate `send` calls with many in flight at once, so the producer packs
 * them into few requests; at most `MAX_IN_FLIGHT_SENDS` are unconfirmed at a time, so a huge file
 * streams through bounded memory. The summary reports the offset range written per partition.
 * On an error nothing more is read; what was confirmed before it (if anything) is reported and
 * stays written.
 */
import { access } from 'node:fs/promises'
import { Producer } from '../../client/producer.js'
import type { ProducerRecord, RecordOffset } from '../../client/types.js'
import {
  acksOption,
  type CommandSpec,
  intOption,
  listOption,
  noExtraPositionals,
  requirePositional,
  stringOption,
} from '../args.js'
import { type CommandContext, ExitCodes, UsageError } from '../context.js'
import { formatCount, formatRate, Progress, printJson, write } from '../output.js'
import { INPUT_OPTIONS, lineParser, readLines } from './input-lines.js'

// Enough to fill several batches while earlier ones are confirmed, few enough to bound memory.
const MAX_IN_FLIGHT_SENDS = 10_000

export const produce: CommandSpec = {
  path: ['produce'],
  args: '<topic>',
  summary: 'Send records to a topic, one per line of stdin or --file, and report their offsets.',
  details: 'Empty lines are skipped. The command returns once every record is confirmed at --acks.',
  interruptible: true,
  options: {
    ...INPUT_OPTIONS,
    key: {
      type: 'string',
      value: 'KEY',
      description: 'the same key on every record (overrides --key-separator)',
    },
    partition: { type: 'string', value: 'N', description: 'write every record to this partition' },
    acks: { type: 'string', value: '0|1|all', description: "confirmation level (default 'all': durable)" },
    'linger-ms': { type: 'string', value: 'MS', description: 'wait this long to fill a batch (default 5)' },
  },
  examples: [
    'seq 1000 | strata produce numbers',
    'strata produce orders --file orders.ndjson --value-format json --acks 1',
    "echo 'user-7:clicked' | strata produce events --key-separator :",
  ],
  async run(ctx) {
    const topic = requirePositional(ctx, 0, 'topic', this)
    noExtraPositionals(ctx, 1, this)
    const file = stringOption(ctx, 'file')
    if (file !== undefined)
      await access(file).catch(() => {
        throw new UsageError(`cannot read --file ${file}`)
      })
    const parse = lineParser({
      valueFormat: stringOption(ctx, 'value-format'),
      keySeparator: stringOption(ctx, 'key-separator'),
      headers: listOption(ctx, 'header'),
    })
    const key = stringOption(ctx, 'key')
    const partition = intOption(ctx, 'partition', undefined)
    const acks = acksOption(ctx)
    const producer = new Producer(ctx.client(), {
      lingerMs: intOption(ctx, 'linger-ms', 5),
      ...(acks !== undefined && { acks }),
    })
    const summary = new OffsetSummary()
    const progress = new Progress(ctx.io, `produce ${topic}`, undefined, ctx.json)
    const started = Date.now()
    let failure: unknown
    const inFlight = new Set<Promise<void>>()
    for await (const [line, n] of readLines(file, ctx.io.stdin, ctx.signal)) {
      if (failure !== undefined || ctx.signal.aborted) break
      const record: ProducerRecord = parse(line, n)
      if (key !== undefined) record.key = key
      if (partition !== undefined) record.partition = partition
      const sent = producer.send(topic, record).then(
        (offsets) => {
          summary.add(1, offsets)
          progress.tick()
        },
        (err: unknown) => {
          failure ??= err
        },
      )
      inFlight.add(sent)
      void sent.finally(() => inFlight.delete(sent))
      if (inFlight.size >= MAX_IN_FLIGHT_SENDS) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
    await producer.close()
    progress.done()
    const elapsedMs = Date.now() - started
    await report(ctx, topic, summary, elapsedMs, failure !== undefined)
    if (failure !== undefined) throw failure
    return ctx.signal.aborted ? ExitCodes.INTERRUPTED : ExitCodes.OK
  },
}

async function report(
  ctx: CommandContext,
  topic: string,
  summary: OffsetSummary,
  elapsedMs: number,
  failed: boolean,
): Promise<void> {
  if (ctx.json) {
    if (!failed)
      await printJson(ctx.io, { topic, count: summary.count, elapsedMs, partitions: summary.partitions() })
    return
  }
  // A refused produce (403, an unknown topic) confirmed nothing: the error alone says what happened.
  if (failed && summary.count === 0) return
  const ranges = summary
    .partitions()
    .map((p) => `${p.partition}:${p.first}-${p.last}`)
    .join(' ')
  const line = `${failed ? 'confirmed' : 'produced'} ${formatCount(summary.count)} records to ${topic}${ranges ? ` (partition:offsets ${ranges})` : ''} in ${(elapsedMs / 1000).toFixed(2)} s, ${formatRate(summary.count, elapsedMs)}\n`
  await write(failed ? ctx.io.stderr : ctx.io.stdout, line)
}

/**
 * Records confirmed, and the first and last offset written per partition. With `--acks 0` the
 * broker answers before writing and names no offsets, so only the count is known.
 */
export class OffsetSummary {
  count = 0
  readonly #byPartition = new Map<number, { partition: number; first: number; last: number; count: number }>()

  add(records: number, offsets: readonly RecordOffset[]): void {
    this.count += records
    for (const o of offsets) {
      const p = this.#byPartition.get(o.partition)
      if (!p)
        this.#byPartition.set(o.partition, {
          partition: o.partition,
          first: o.offset,
          last: o.offset,
          count: 1,
        })
      else {
        p.first = Math.min(p.first, o.offset)
        p.last = Math.max(p.last, o.offset)
        p.count++
      }
    }
  }

  partitions(): Array<{ partition: number; first: number; last: number; count: number }> {
    return [...this.#byPartition.values()].sort((a, b) => a.partition - b.partition)
  }
}
