/**
 * `strata topics create|list|describe|delete`: topic administration through the client's Admin.
 */
import { Admin } from '../../client/admin.js'
import type { TopicConfig, TopicDescription } from '../../client/types.js'
import { TopicExistsError, TopicNotFoundError } from '../../errors.js'
import {
  type CommandSpec,
  flag,
  intOption,
  listOption,
  noExtraPositionals,
  parseWhole,
  requirePositional,
} from '../args.js'
import { ExitCodes, UsageError } from '../context.js'
import { printJson, renderTable, write } from '../output.js'

export const topicsCreate: CommandSpec = {
  path: ['topics', 'create'],
  args: '<name>',
  summary: 'Create a topic.',
  options: {
    partitions: { type: 'string', value: 'N', description: 'number of partitions (default 1)' },
    'replication-factor': { type: 'string', value: 'N', description: 'copies of each partition (default 1)' },
    config: {
      type: 'string',
      multiple: true,
      value: 'KEY=VALUE',
      description: 'topic config: retentionMs, retentionBytes, segmentBytes, minInsyncReplicas',
    },
    'if-not-exists': { type: 'boolean', description: 'succeed when the topic already exists' },
  },
  examples: [
    'strata topics create orders --partitions 3',
    'strata topics create logs --config retentionMs=86400000',
  ],
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    const partitions = intOption(ctx, 'partitions', undefined, 1)
    const replicationFactor = intOption(ctx, 'replication-factor', undefined, 1)
    const config = parseConfig(listOption(ctx, 'config'))
    const admin = new Admin(ctx.client())
    let topic: TopicDescription
    try {
      topic = await admin.createTopic(name, {
        ...(partitions !== undefined && { partitions }),
        ...(replicationFactor !== undefined && { replicationFactor }),
        ...(config && { config }),
      })
    } catch (err) {
      if (!(err instanceof TopicExistsError && flag(ctx, 'if-not-exists'))) throw err
      topic = await admin.describeTopic(name)
    }
    if (ctx.json) await printJson(ctx.io, topic)
    else {
      await write(
        ctx.io.stdout,
        `topic ${topic.name}: ${topic.partitions.length} partition(s), replication factor ${topic.replicationFactor}\n`,
      )
    }
    return ExitCodes.OK
  },
}

export const topicsList: CommandSpec = {
  path: ['topics', 'list'],
  summary: 'List topics with their partition counts and sizes.',
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const topics = await new Admin(ctx.client()).listTopics()
    if (ctx.json) {
      await printJson(ctx.io, topics)
      return ExitCodes.OK
    }
    const rows = topics
      .map((t) => [t.name, t.partitions.length, t.replicationFactor, recordCount(t)] as const)
      .sort((a, b) => a[0].localeCompare(b[0]))
    await write(ctx.io.stdout, renderTable(['TOPIC', 'PARTITIONS', 'REPLICATION', 'RECORDS'], rows))
    return ExitCodes.OK
  },
}

export const topicsDescribe: CommandSpec = {
  path: ['topics', 'describe'],
  args: '<name>',
  summary: 'Show a topic: partitions with leader, replicas, in-sync replicas and offsets; its config.',
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    const topic = await new Admin(ctx.client()).describeTopic(name)
    if (ctx.json) {
      await printJson(ctx.io, topic)
      return ExitCodes.OK
    }
    const config = Object.entries(topic.config ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')
    const head = `topic ${topic.name}  partitions ${topic.partitions.length}  replication ${topic.replicationFactor}${config ? `  config ${config}` : ''}\n\n`
    const rows = topic.partitions.map((p) => [
      p.partition,
      p.leader,
      p.replicas,
      p.isr,
      p.logStartOffset,
      p.logEndOffset,
      p.highWatermark,
    ])
    await write(
      ctx.io.stdout,
      head +
        renderTable(
          ['PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'LOG-START', 'LOG-END', 'HIGH-WATERMARK'],
          rows,
        ),
    )
    return ExitCodes.OK
  },
}

export const topicsDelete: CommandSpec = {
  path: ['topics', 'delete'],
  args: '<name>',
  summary: 'Delete a topic and all its records.',
  options: { 'if-exists': { type: 'boolean', description: 'succeed when the topic does not exist' } },
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    let deleted = true
    try {
      await new Admin(ctx.client()).deleteTopic(name)
    } catch (err) {
      if (!(err instanceof TopicNotFoundError && flag(ctx, 'if-exists'))) throw err
      deleted = false
    }
    if (ctx.json) await printJson(ctx.io, { topic: name, deleted })
    else await write(ctx.io.stdout, deleted ? `deleted topic ${name}\n` : `topic ${name} does not exist\n`)
    return ExitCodes.OK
  },
}

export const topicCommands = [topicsCreate, topicsList, topicsDescribe, topicsDelete]

function recordCount(t: TopicDescription): number {
  return t.partitions.reduce((sum, p) => sum + (p.highWatermark - p.logStartOffset), 0)
}

/** `KEY=VALUE` pairs; numeric values become numbers. */
function parseConfig(pairs: string[]): TopicConfig | undefined {
  if (pairs.length === 0) return undefined
  const config: TopicConfig = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--config expects KEY=VALUE, got '${pair}'`, 'topics create')
    const key = pair.slice(0, eq)
    const raw = pair.slice(eq + 1)
    config[key] = /^\d+$/.test(raw) ? parseWhole(raw, `--config ${key}`) : raw
  }
  return config
}
