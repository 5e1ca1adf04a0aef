/**
 * `strata cluster elect-leaders`: preferred-leader election on demand. Each chosen partition whose
 * preferred replica (the first assigned) is alive and in sync but does not lead is handed to it by
 * its leader, cleanly (no confirmed write lost, producers retry the writes it refused meanwhile).
 */
import { type CommandSpec, listOption, noExtraPositionals, parseWhole, stringOption } from '../args.js'
import { ExitCodes, UsageError } from '../context.js'
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

export const clusterCommands: readonly CommandSpec[] = [clusterElectLeaders]
