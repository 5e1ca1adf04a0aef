/**
 * `strata groups list|describe|reset`: consumer groups, their members and lag, and moving a
 * group's offsets while it has no members (Kafka's `--reset-offsets`).
 */
import { Admin } from '../../client/admin.js'
import type { GroupDescription, OffsetSpec } from '../../client/types.js'
import {
  type CommandSpec,
  intOption,
  noExtraPositionals,
  parseWhole,
  requirePositional,
  stringOption,
} from '../args.js'
import { ExitCodes, UsageError } from '../context.js'
import { printJson, renderTable, write } from '../output.js'

export const groupsList: CommandSpec = {
  path: ['groups', 'list'],
  summary: 'List consumer groups with their state, generation, members and total lag.',
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const groups = await new Admin(ctx.client()).listGroups()
    if (ctx.json) {
      await printJson(ctx.io, groups)
      return ExitCodes.OK
    }
    const rows = groups.map((g) => [groupName(g), g.state, g.generation, g.members?.length ?? 0, g.lag])
    await write(ctx.io.stdout, renderTable(['GROUP', 'STATE', 'GENERATION', 'MEMBERS', 'LAG'], rows))
    return ExitCodes.OK
  },
}

export const groupsDescribe: CommandSpec = {
  path: ['groups', 'describe'],
  args: '<group>',
  summary: "Show a group's members with their partitions, and committed offset and lag per partition.",
  async run(ctx) {
    const group = requirePositional(ctx, 0, 'group', this)
    noExtraPositionals(ctx, 1, this)
    const admin = new Admin(ctx.client())
    const [description, lag] = await Promise.all([admin.describeGroup(group), admin.groupLag(group)])
    if (ctx.json) {
      await printJson(ctx.io, { ...description, offsets: lag.partitions, totalLag: lag.total })
      return ExitCodes.OK
    }
    const head = `group ${group}  state ${description.state}  generation ${description.generation}  lag ${lag.total}\n\n`
    const members = renderTable(
      ['MEMBER', 'PARTITIONS'],
      (description.members ?? []).map((m) => [
        m.memberId,
        (m.assignments ?? []).map((a) => `${a.topic}/${a.partition}`).join(' ') || '-',
      ]),
    )
    const offsets = renderTable(
      ['TOPIC', 'PARTITION', 'COMMITTED', 'LOG-END', 'LAG'],
      lag.partitions.map((p) => [p.topic, p.partition, p.committed, p.logEndOffset, p.lag]),
    )
    await write(ctx.io.stdout, `${head}${members}\n${offsets}`)
    return ExitCodes.OK
  },
}

export const groupsReset: CommandSpec = {
  path: ['groups', 'reset'],
  args: '<group>',
  summary: "Move a group's committed offsets on a topic; the group must have no members.",
  options: {
    topic: { type: 'string', value: 'TOPIC', description: 'the topic whose offsets move (required)' },
    to: {
      type: 'string',
      value: 'WHERE',
      description: "'earliest', 'latest', or a timestamp in ms (the first record at or after it)",
    },
    'to-offset': { type: 'string', value: 'N', description: 'an exact offset instead of --to' },
    partition: { type: 'string', value: 'N', description: 'with --to-offset: only this partition' },
  },
  examples: [
    'strata groups reset billing --topic orders --to earliest',
    'strata groups reset billing --topic orders --to-offset 100 --partition 2',
  ],
  async run(ctx) {
    const group = requirePositional(ctx, 0, 'group', this)
    noExtraPositionals(ctx, 1, this)
    const topic = stringOption(ctx, 'topic')
    if (topic === undefined) throw new UsageError('--topic is required', 'groups reset')
    const to = stringOption(ctx, 'to')
    const toOffset = intOption(ctx, 'to-offset', undefined)
    if ((to === undefined) === (toOffset === undefined)) {
      throw new UsageError('give exactly one of --to and --to-offset', 'groups reset')
    }
    const admin = new Admin(ctx.client())
    if (toOffset !== undefined) {
      const only = intOption(ctx, 'partition', undefined)
      const partitions =
        only !== undefined ? [only] : (await admin.describeTopic(topic)).partitions.map((p) => p.partition)
      await admin.setGroupOffsets(
        group,
        partitions.map((partition) => ({ topic, partition, offset: toOffset })),
      )
    } else {
      await admin.resetGroupOffsets(group, topic, parseTo(to as string))
    }
    const lag = await admin.groupLag(group).catch(() => undefined)
    if (ctx.json) await printJson(ctx.io, { group, topic, offsets: lag?.partitions ?? [] })
    else {
      const rows = (lag?.partitions ?? [])
        .filter((p) => p.topic === topic)
        .map((p) => [p.partition, p.committed, p.logEndOffset, p.lag])
      await write(
        ctx.io.stdout,
        `reset group ${group} on ${topic}\n${renderTable(['PARTITION', 'COMMITTED', 'LOG-END', 'LAG'], rows)}`,
      )
    }
    return ExitCodes.OK
  },
}

export const groupCommands = [groupsList, groupsDescribe, groupsReset]

function parseTo(raw: string): OffsetSpec {
  if (raw === 'earliest' || raw === 'latest') return raw
  return parseWhole(raw, '--to')
}

function groupName(g: GroupDescription): string {
  return String(g.group ?? g.name ?? g.groupId ?? '-')
}
