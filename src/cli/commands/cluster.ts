/**
 * `strata cluster elect-leaders`: preferred-leader election on demand. Each chosen partition whose
 * preferred replica (the first assigned) is alive and in sync but does not lead is handed to it by
 * its leader, cleanly (no confirmed write lost, producers retry the writes it refused meanwhile).
 *
 * `strata cluster reassign`: partition reassignment (Kafka's kafka-reassign-partitions): from a
 * JSON plan (`--file`, Kafka's format `{partitions: [{topic, partition, replicas}]}`) or one
 * partition given by flags; `--generate --brokers 1,2,3,4` prints a plan that spreads the topics'
 * replicas evenly over those brokers (nothing moves); `--cancel` stops a running one.
 * `strata cluster reassignments` lists those under way.
 */
import { readFileSync } from 'node:fs'
import type { PartitionReassignment, PartitionReassignmentRequest } from '../../client/types.js'
import { balancedPlan } from '../../cluster/reassignment-plan.js'
import { MAX_REASSIGNMENTS_PER_REQUEST } from '../../cluster/reassignment-requests.js'
import {
  type CommandSpec,
  flag,
  intOption,
  listOption,
  noExtraPositionals,
  parseWhole,
  stringOption,
} from '../args.js'
import { type CommandContext, ExitCodes, UsageError } from '../context.js'
import { printJson, renderTable, write } from '../output.js'

export const clusterElectLeaders: CommandSpec = {
  path: ['cluster', 'elect-leaders'],
  summary: 'Move leadership back to the preferred replicas (all topics, one topic, or some partitions).',
  options: {
    topic: { type: 'string', value: 'NAME', description: 'only this topic' },
    partition: {
      type: 'string',
      multiple: true,
      value: 'N',
      description: 'only this partition of --topic (repeatable)',
    },
  },
  examples: ['strata cluster elect-leaders', 'strata cluster elect-leaders --topic orders --partition 0'],
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const topic = stringOption(ctx, 'topic')
    const partitions = listOption(ctx, 'partition').map((p) => parseWhole(p, '--partition'))
    if (partitions.length > 0 && topic === undefined) throw new UsageError('--partition needs --topic')
    const elections = await ctx.client().electPreferredLeaders({
      ...(topic !== undefined && { topic }),
      ...(partitions.length > 0 && { partitions }),
    })
    if (ctx.json) {
      await printJson(ctx.io, elections)
      return ExitCodes.OK
    }
    const rows = elections.map((e) => [
      e.topic,
      e.partition,
      e.preferredLeader,
      e.leader,
      e.moved ? 'moved' : (e.reason ?? 'not moved'),
    ])
    await write(ctx.io.stdout, renderTable(['TOPIC', 'PARTITION', 'PREFERRED', 'LEADER', 'RESULT'], rows))
    return ExitCodes.OK
  },
}

/** A comma-separated list of broker ids, e.g. `--replicas 2,3`. */
function idList(raw: string | undefined, what: string): number[] | undefined {
  if (raw === undefined) return undefined
  return raw.split(',').map((id) => parseWhole(id.trim(), what))
}

/** Kafka's reassignment JSON (`version` and `log_dirs` are accepted and ignored). */
function readPlan(path: string): PartitionReassignmentRequest[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new UsageError(`cannot read the plan ${path}: ${(err as Error).message}`)
  }
  const partitions = (parsed as { partitions?: unknown } | null)?.partitions
  if (!Array.isArray(partitions)) throw new UsageError(`${path}: expected {"partitions": [...]}`)
  return partitions.map((p: { topic?: unknown; partition?: unknown; replicas?: unknown }) => ({
    topic: p?.topic as string,
    partition: p?.partition as number,
    replicas: p?.replicas as number[],
  }))
}

async function printReassignments(ctx: CommandContext, list: PartitionReassignment[]): Promise<void> {
  if (ctx.json) return printJson(ctx.io, list)
  const rows = list.map((r) => [
    r.topic,
    r.partition,
    r.targetReplicas.join(','),
    r.addingReplicas.join(',') || '-',
    r.removingReplicas.join(',') || '-',
    r.leader,
    r.isr.join(','),
  ])
  await write(
    ctx.io.stdout,
    renderTable(['TOPIC', 'PARTITION', 'TARGET', 'ADDING', 'REMOVING', 'LEADER', 'ISR'], rows),
  )
}

export const clusterReassign: CommandSpec = {
  path: ['cluster', 'reassign'],
  summary: 'Move partitions to new replica lists (from a JSON plan or flags), propose a plan, or cancel.',
  details:
    'New replicas catch up with the leader (at most --throttle bytes/s each), then a leader outside the new list hands over and the old replicas delete their copy. The replication factor stays as it is.',
  options: {
    file: {
      type: 'string',
      value: 'PATH',
      description: 'a plan: {"partitions":[{"topic","partition","replicas"}]}',
    },
    topic: {
      type: 'string',
      multiple: true,
      value: 'NAME',
      description: 'the topic (--generate: several, default all)',
    },
    partition: { type: 'string', value: 'N', description: 'the partition of --topic' },
    replicas: { type: 'string', value: 'IDS', description: 'its new replica list, e.g. 2,3' },
    throttle: {
      type: 'string',
      value: 'BYTES',
      description: 'catch-up limit per new replica, bytes/s (≥ 1024)',
    },
    generate: { type: 'boolean', description: 'print a balanced plan for --brokers (moves nothing)' },
    brokers: { type: 'string', value: 'IDS', description: 'with --generate: the brokers to spread over' },
    cancel: { type: 'boolean', description: 'cancel the running reassignment of --topic/--partition' },
  },
  examples: [
    'strata cluster reassign --topic orders --partition 0 --replicas 2,3',
    'strata cluster reassign --generate --brokers 1,2,3,4 > plan.json',
    'strata cluster reassign --file plan.json --throttle 10485760',
    'strata cluster reassign --cancel --topic orders --partition 0',
  ],
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const topics = listOption(ctx, 'topic')
    const partition = intOption(ctx, 'partition', undefined)
    const file = stringOption(ctx, 'file')
    const replicas = idList(stringOption(ctx, 'replicas'), '--replicas')
    if (flag(ctx, 'generate')) {
      const brokers = idList(stringOption(ctx, 'brokers'), '--brokers')
      if (!brokers || brokers.length === 0) throw new UsageError('--generate needs --brokers')
      const described =
        topics.length > 0
          ? await Promise.all(topics.map((t) => ctx.client().describeTopic(t)))
          : await ctx.client().listTopics()
      const current = described.flatMap((t) =>
        t.partitions.map((p) => ({
          topic: t.name,
          partition: p.partition,
          replicas: p.replicas.map(Number),
        })),
      )
      let plan: PartitionReassignmentRequest[]
      try {
        plan = balancedPlan(current, brokers)
      } catch (err) {
        throw new UsageError((err as Error).message)
      }
      // Kafka's plan format, one partition a line: it is meant to be read, edited and passed to --file.
      const lines = plan.map((p) => `  ${JSON.stringify(p)}`).join(',\n')
      await write(ctx.io.stdout, `{"version":1,"partitions":[${lines ? `\n${lines}\n` : ''}]}\n`)
      return ExitCodes.OK
    }
    const one = (): { topic: string; partition: number } => {
      if (topics.length !== 1 || partition === undefined) {
        throw new UsageError('give one --topic and its --partition (or --file)')
      }
      return { topic: topics[0] as string, partition }
    }
    if (flag(ctx, 'cancel')) {
      const { topic, partition: p } = one()
      await printReassignments(ctx, [await ctx.client().cancelReassignment(topic, p)])
      return ExitCodes.OK
    }
    let partitions: PartitionReassignmentRequest[]
    if (file !== undefined) {
      if (topics.length > 0 || replicas) throw new UsageError('--file goes without --topic and --replicas')
      partitions = readPlan(file)
    } else {
      if (!replicas) throw new UsageError('give --file, or --topic, --partition and --replicas')
      partitions = [{ ...one(), replicas }]
    }
    const throttle = intOption(ctx, 'throttle', undefined, 1024)
    const opts = throttle === undefined ? {} : { throttleBytesPerSec: throttle }
    // A broker takes at most MAX_REASSIGNMENTS_PER_REQUEST partitions a request (each request is all
    // or none); a longer plan goes in several, and stops at the first refused.
    const started: PartitionReassignment[] = []
    let failure: unknown
    try {
      for (let i = 0; i < partitions.length; i += MAX_REASSIGNMENTS_PER_REQUEST) {
        const chunk = partitions.slice(i, i + MAX_REASSIGNMENTS_PER_REQUEST)
        started.push(...(await ctx.client().reassignPartitions(chunk, opts)))
      }
    } catch (err) {
      failure = err
    }
    // What earlier requests started runs: it is shown even when a later one was refused.
    if (started.length > 0 || failure === undefined) await printReassignments(ctx, started)
    if (failure !== undefined) throw failure
    return ExitCodes.OK
  },
}

export const clusterReassignments: CommandSpec = {
  path: ['cluster', 'reassignments'],
  summary: 'List the partition reassignments under way.',
  examples: ['strata cluster reassignments'],
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    await printReassignments(ctx, await ctx.client().listReassignments())
    return ExitCodes.OK
  },
}

export const clusterCommands: readonly CommandSpec[] = [
  clusterElectLeaders,
  clusterReassign,
  clusterReassignments,
]
