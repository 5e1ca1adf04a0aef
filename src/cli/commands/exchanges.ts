/**
 * `strata exchanges create|list|describe|delete|bind|unbind|publish`: RabbitMQ-style routing onto
 * topics, as rabbitmqadmin offers it.
 */
import { Admin } from '../../client/admin.js'
import type { ExchangeRecord, ExchangeType } from '../../client/types.js'
import {
  acksOption,
  type CommandSpec,
  listOption,
  noExtraPositionals,
  requirePositional,
  stringOption,
} from '../args.js'
import { ExitCodes, UsageError } from '../context.js'
import { formatCount, printJson, renderTable, write } from '../output.js'
import { INPUT_OPTIONS, lineParser, readLines } from './input-lines.js'

const TYPES: readonly ExchangeType[] = ['direct', 'topic', 'fanout']

// Records per publish request when reading many lines.
const PUBLISH_BATCH = 500

export const exchangesCreate: CommandSpec = {
  path: ['exchanges', 'create'],
  args: '<name>',
  summary: 'Create an exchange that routes records onto bound topics.',
  options: {
    type: { type: 'string', value: 'TYPE', description: "'direct', 'topic' or 'fanout' (required)" },
    'alternate-topic': { type: 'string', value: 'TOPIC', description: 'where records no binding matches go' },
  },
  examples: ['strata exchanges create events --type topic --alternate-topic unrouted'],
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    const type = stringOption(ctx, 'type')
    if (type === undefined || !TYPES.includes(type as ExchangeType)) {
      throw new UsageError(`--type must be one of ${TYPES.join(', ')}`, 'exchanges create')
    }
    const alternateTopic = stringOption(ctx, 'alternate-topic')
    const exchange = await new Admin(ctx.client()).createExchange(name, type as ExchangeType, {
      ...(alternateTopic !== undefined && { alternateTopic }),
    })
    if (ctx.json) await printJson(ctx.io, exchange)
    else
      await write(
        ctx.io.stdout,
        `exchange ${name}: ${type}${alternateTopic ? `, alternate topic ${alternateTopic}` : ''}\n`,
      )
    return ExitCodes.OK
  },
}

export const exchangesList: CommandSpec = {
  path: ['exchanges', 'list'],
  summary: 'List exchanges with their type and bindings.',
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const exchanges = await new Admin(ctx.client()).listExchanges()
    if (ctx.json) {
      await printJson(ctx.io, exchanges)
      return ExitCodes.OK
    }
    const rows = exchanges.map((x) => [x.name, x.type, x.bindings?.length ?? 0, x.alternateTopic])
    await write(ctx.io.stdout, renderTable(['EXCHANGE', 'TYPE', 'BINDINGS', 'ALTERNATE-TOPIC'], rows))
    return ExitCodes.OK
  },
}

export const exchangesDescribe: CommandSpec = {
  path: ['exchanges', 'describe'],
  args: '<name>',
  summary: 'Show an exchange and its bindings.',
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    const exchange = await new Admin(ctx.client()).describeExchange(name)
    if (ctx.json) {
      await printJson(ctx.io, exchange)
      return ExitCodes.OK
    }
    const head = `exchange ${exchange.name}  type ${exchange.type}${exchange.alternateTopic ? `  alternate ${exchange.alternateTopic}` : ''}\n\n`
    const rows = (exchange.bindings ?? []).map((b) => [b.topic, b.bindingKey])
    await write(ctx.io.stdout, head + renderTable(['TOPIC', 'BINDING-KEY'], rows))
    return ExitCodes.OK
  },
}

export const exchangesDelete: CommandSpec = {
  path: ['exchanges', 'delete'],
  args: '<name>',
  summary: 'Delete an exchange (its topics and their records stay).',
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    await new Admin(ctx.client()).deleteExchange(name)
    if (ctx.json) await printJson(ctx.io, { exchange: name, deleted: true })
    else await write(ctx.io.stdout, `deleted exchange ${name}\n`)
    return ExitCodes.OK
  },
}

const bindingOptions = {
  'binding-key': {
    type: 'string',
    value: 'KEY',
    description: "routing key to match (direct: equal; topic: words with '*' and '#'; fanout: ignored)",
  },
} as const

export const exchangesBind: CommandSpec = {
  path: ['exchanges', 'bind'],
  args: '<exchange> <topic>',
  summary: 'Bind a topic to an exchange.',
  options: bindingOptions,
  examples: ["strata exchanges bind events audit --binding-key 'user.#'"],
  async run(ctx) {
    const exchange = requirePositional(ctx, 0, 'exchange', this)
    const topic = requirePositional(ctx, 1, 'topic', this)
    noExtraPositionals(ctx, 2, this)
    const bindingKey = stringOption(ctx, 'binding-key')
    await new Admin(ctx.client()).bind(exchange, topic, bindingKey)
    if (ctx.json) await printJson(ctx.io, { exchange, topic, bindingKey: bindingKey ?? null, bound: true })
    else
      await write(
        ctx.io.stdout,
        `bound ${topic} to ${exchange}${bindingKey !== undefined ? ` with key ${bindingKey}` : ''}\n`,
      )
    return ExitCodes.OK
  },
}

export const exchangesUnbind: CommandSpec = {
  path: ['exchanges', 'unbind'],
  args: '<exchange> <topic>',
  summary: 'Remove a binding (same topic and binding key as when bound).',
  options: bindingOptions,
  async run(ctx) {
    const exchange = requirePositional(ctx, 0, 'exchange', this)
    const topic = requirePositional(ctx, 1, 'topic', this)
    noExtraPositionals(ctx, 2, this)
    const bindingKey = stringOption(ctx, 'binding-key')
    await new Admin(ctx.client()).unbind(exchange, topic, bindingKey)
    if (ctx.json) await printJson(ctx.io, { exchange, topic, bindingKey: bindingKey ?? null, bound: false })
    else await write(ctx.io.stdout, `unbound ${topic} from ${exchange}\n`)
    return ExitCodes.OK
  },
}

export const exchangesPublish: CommandSpec = {
  path: ['exchanges', 'publish'],
  args: '<exchange>',
  summary: 'Publish records through an exchange: --value for one, else one per line of stdin or --file.',
  details: 'Exchange publishes are not idempotent: a publish cut off mid-request is reported, not repeated.',
  interruptible: true,
  options: {
    'routing-key': { type: 'string', value: 'KEY', description: 'routing key of every record (required)' },
    value: { type: 'string', value: 'VALUE', description: 'publish this one value instead of reading lines' },
    key: { type: 'string', value: 'KEY', description: 'record key of every record' },
    acks: { type: 'string', value: '0|1|all', description: "confirmation level (default 'all')" },
    ...INPUT_OPTIONS,
  },
  examples: [
    'strata exchanges publish events --routing-key user.signup --value \'{"id":7}\' --value-format json',
    'cat clicks.txt | strata exchanges publish events --routing-key user.click',
  ],
  async run(ctx) {
    const exchange = requirePositional(ctx, 0, 'exchange', this)
    noExtraPositionals(ctx, 1, this)
    const routingKey = stringOption(ctx, 'routing-key')
    if (routingKey === undefined) throw new UsageError('--routing-key is required', 'exchanges publish')
    const acks = acksOption(ctx)
    const key = stringOption(ctx, 'key')
    const parse = lineParser({
      valueFormat: stringOption(ctx, 'value-format'),
      keySeparator: stringOption(ctx, 'key-separator'),
      headers: listOption(ctx, 'header'),
    })
    const toRecord = (line: string, n: number): ExchangeRecord => {
      const r = parse(line, n)
      return {
        routingKey,
        value: r.value,
        ...(r.headers && { headers: r.headers }),
        ...((key ?? r.key) !== undefined && { key: key ?? r.key }),
      }
    }
    const client = ctx.client()
    let published = 0
    let unroutable = 0
    const results: Array<{ routed: unknown[] }> = []
    const flush = async (batch: ExchangeRecord[]) => {
      if (batch.length === 0) return
      const res = await client.publish(exchange, batch, acks)
      published += batch.length
      for (const r of res.results) {
        if (r.routed.length === 0) unroutable++
        results.push(r)
      }
    }
    const value = stringOption(ctx, 'value')
    if (value !== undefined) await flush([toRecord(value, 1)])
    else {
      let batch: ExchangeRecord[] = []
      for await (const [line, n] of readLines(stringOption(ctx, 'file'), ctx.io.stdin, ctx.signal)) {
        batch.push(toRecord(line, n))
        if (batch.length >= PUBLISH_BATCH) {
          await flush(batch)
          batch = []
        }
      }
      await flush(batch)
    }
    if (ctx.json) await printJson(ctx.io, { exchange, published, unroutable, results })
    else {
      await write(
        ctx.io.stdout,
        `published ${formatCount(published)} records through ${exchange}: ${formatCount(published - unroutable)} routed, ${formatCount(unroutable)} unroutable\n`,
      )
    }
    return ctx.signal.aborted ? ExitCodes.INTERRUPTED : ExitCodes.OK
  },
}

export const exchangeCommands = [
  exchangesCreate,
  exchangesList,
  exchangesDescribe,
  exchangesDelete,
  exchangesBind,
  exchangesUnbind,
  exchangesPublish,
]
