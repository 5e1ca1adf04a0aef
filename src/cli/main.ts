/**
 * The `strata` command line (everything but `serve`, which src/main.ts starts itself).
 *
 * `runCli(argv)` finds the command from the leading words, parses its options strictly, runs it
 * with one shared broker client, prints any error once, and returns the exit code; it never calls
 * `process.exit`, so tests run it in-process and the caller owns the process. Every command
 * speaks to brokers only through the client library (src/client), never with HTTP of its own.
 */
import { readFileSync } from 'node:fs'
import { BrokerUnreachableError } from '../client/client-errors.js'
import { StrataError } from '../errors.js'
import { type CommandSpec, commandHelp, GLOBAL_OPTIONS, parseCommand, parseWhole } from './args.js'
import { bench } from './commands/bench.js'
import { clusterCommands } from './commands/cluster.js'
import { consume } from './commands/consume.js'
import { exchangeCommands } from './commands/exchanges.js'
import { groupCommands } from './commands/groups.js'
import { produce } from './commands/produce.js'
import { securityCommands } from './commands/security.js'
import { topicCommands } from './commands/topics.js'
import {
  brokerUrls,
  type CliIo,
  type CommandContext,
  credentialsFromEnv,
  ExitCodes,
  exitCodeFor,
  lazyClient,
  processIo,
  UsageError,
} from './context.js'
import { toJson, write } from './output.js'
import { cliTls } from './tls.js'

export type { CliIo } from './context.js'
export { ExitCodes } from './context.js'

export const COMMANDS: readonly CommandSpec[] = [
  ...topicCommands,
  produce,
  consume,
  ...groupCommands,
  ...exchangeCommands,
  ...securityCommands,
  ...clusterCommands,
  bench,
]

const GROUPS: Record<string, string> = {
  topics: 'Create, list, describe and delete topics.',
  groups: 'List and describe consumer groups; reset their offsets.',
  exchanges: 'Route records onto topics by bindings (direct, topic, fanout).',
  users: 'Manage users (with --auth): create, list, set passwords, delete; whoami.',
  tokens: 'Create, list and revoke API tokens (Bearer) for a user.',
  acls: 'Grant and revoke permissions: principal, operation, resource, name or prefix.',
  cluster: 'Cluster administration: preferred-leader election, partition reassignment.',
}

/** Runs one command line; resolves with its exit code (see `strata --help`). */
export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  const words = leadingWords(argv)
  const first = words[0]
  if (first === undefined || first === 'help') {
    const topic = first === 'help' ? words.slice(1) : []
    if (topic.length > 0) return runCli([...topic, '--help'], io)
    const asked = argv.includes('--help') || argv.includes('-h') || first === 'help'
    if (argv.includes('--version')) {
      await write(io.stdout, `${version()}\n`)
      return ExitCodes.OK
    }
    await write(asked ? io.stdout : io.stderr, mainHelp())
    return asked ? ExitCodes.OK : ExitCodes.USAGE
  }
  if (first === 'serve') {
    const { serve } = await import('./commands/serve.js')
    return serve(argv.filter((a) => a !== 'serve'))
  }
  const spec = COMMANDS.find((c) => c.path.every((w, i) => words[i] === w))
  if (!spec) return unknownCommand(words, argv, io)
  const rest = withoutWords(argv, spec.path.length)
  let ctxValues: ReturnType<typeof parseCommand>
  try {
    ctxValues = parseCommand(spec, rest)
  } catch (err) {
    return printError(io, err, argv.includes('--json'))
  }
  if (ctxValues.values.help === true) {
    await write(io.stdout, commandHelp(spec))
    return ExitCodes.OK
  }
  return execute(spec, ctxValues, io)
}

async function execute(
  spec: CommandSpec,
  parsed: ReturnType<typeof parseCommand>,
  io: CliIo,
): Promise<number> {
  const json = parsed.values.json === true
  const controller = new AbortController()
  const base: Omit<CommandContext, 'client'> = {
    io,
    json,
    positionals: parsed.positionals,
    values: parsed.values,
    signal: controller.signal,
  }
  let client: ReturnType<typeof lazyClient>
  try {
    const rawTimeout = parsed.values.timeout
    const timeout = typeof rawTimeout === 'string' ? parseWhole(rawTimeout, '--timeout', 1) : undefined
    client = lazyClient(
      brokerUrls(parsed.values.url as string[] | undefined, io.env),
      timeout,
      cliTls(parsed.values, io.env),
      credentialsFromEnv(io.env),
    )
  } catch (err) {
    return printError(io, err, json)
  }
  const stopOnSignal = spec.interruptible ? interruptOn(controller) : () => {}
  const onPipeError = (err: NodeJS.ErrnoException) => {
    // The reader went away (`| head`): stop quietly, as Unix tools do.
    if (err.code === 'EPIPE') controller.abort()
  }
  io.stdout.on('error', onPipeError)
  try {
    return await spec.run({ ...base, client: client.get })
  } catch (err) {
    if (controller.signal.aborted && !(err instanceof StrataError)) return ExitCodes.INTERRUPTED
    return await printError(io, err, json)
  } finally {
    stopOnSignal()
    io.stdout.off('error', onPipeError)
    await client.close()
  }
}

/** SIGINT / SIGTERM abort the command gracefully; a second one exits at once. */
function interruptOn(controller: AbortController): () => void {
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(ExitCodes.INTERRUPTED)
    controller.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return () => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

async function printError(io: CliIo, err: unknown, json: boolean): Promise<number> {
  const code = exitCodeFor(err)
  const e = err as { code?: unknown; message?: string; details?: unknown }
  const errorCode = typeof e?.code === 'string' ? e.code : 'ERROR'
  if (json) {
    await write(
      io.stderr,
      `${toJson({ error: { code: err instanceof UsageError ? 'USAGE' : errorCode, message: e?.message ?? String(err), ...(e?.details !== undefined && { details: e.details }) } })}\n`,
    )
    return code
  }
  let text: string
  if (err instanceof UsageError) {
    text = `strata: ${err.message}\nRun 'strata ${err.helpFor ? `${err.helpFor} ` : ''}--help' for usage.\n`
  } else if (err instanceof BrokerUnreachableError) {
    text = `strata: no broker reachable: ${err.message}\n`
  } else if (err instanceof StrataError) {
    text = `strata: ${err.code}: ${err.message}\n`
  } else {
    text = `strata: ${err instanceof Error ? err.message : String(err)}\n`
  }
  await write(io.stderr, text)
  return code
}

async function unknownCommand(words: string[], argv: string[], io: CliIo): Promise<number> {
  const group = words[0] as string
  if (Object.hasOwn(GROUPS, group)) {
    const asked = argv.includes('--help') || argv.includes('-h')
    const sub = words[1]
    if (sub !== undefined && !asked) {
      await write(
        io.stderr,
        `strata: unknown command '${group} ${sub}'\nRun 'strata ${group} --help' for usage.\n`,
      )
      return ExitCodes.USAGE
    }
    await write(asked ? io.stdout : io.stderr, groupHelp(group))
    return asked ? ExitCodes.OK : ExitCodes.USAGE
  }
  await write(
    io.stderr,
    `strata: unknown command '${group}'\nRun 'strata --help' for the list of commands.\n`,
  )
  return ExitCodes.USAGE
}

/** Command words at the start of argv, skipping global options (and the value of `--url X`). */
function leadingWords(argv: readonly string[]): string[] {
  const words: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a.startsWith('-')) {
      const name = a.replace(/^--?/, '')
      if (GLOBAL_OPTIONS[name]?.type === 'string' && !a.includes('=')) i++
      continue
    }
    words.push(a)
    // `help topics create` is the longest command line: three words.
    if (words.length === 3) break
  }
  return words
}

/** argv with the first `count` command words removed, options kept in place. */
function withoutWords(argv: readonly string[], count: number): string[] {
  const out: string[] = []
  let removed = 0
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a.startsWith('-')) {
      out.push(a)
      const name = a.replace(/^--?/, '')
      if (GLOBAL_OPTIONS[name]?.type === 'string' && !a.includes('=') && i + 1 < argv.length)
        out.push(argv[++i] as string)
      continue
    }
    if (removed < count) removed++
    else out.push(a)
  }
  return out
}

function commandLine(c: CommandSpec): string {
  return `${c.path.join(' ')}${c.args ? ` ${c.args}` : ''}`
}

function groupHelp(group: string): string {
  const commands = COMMANDS.filter((c) => c.path[0] === group)
  const width = Math.max(...commands.map((c) => commandLine(c).length)) + 2
  return [
    `Usage: strata ${group} <command> [options]`,
    '',
    GROUPS[group],
    '',
    'Commands:',
    ...commands.map((c) => `  ${commandLine(c).padEnd(width)}${c.summary}`),
    '',
    `Run 'strata ${group} <command> --help' for a command's options.`,
    '',
  ].join('\n')
}

export function mainHelp(): string {
  const entries: Array<[string, string]> = [
    ['serve', 'Start a broker (strata serve --help lists every option).'],
    ...COMMANDS.map((c) => [commandLine(c), c.summary] as [string, string]),
  ]
  const width = Math.max(...entries.map(([l]) => l.length)) + 2
  const globals = Object.entries(GLOBAL_OPTIONS).map(([name, o]) => {
    const flagText = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`
    return `  ${flagText.padEnd(width)}${o.description}`
  })
  return [
    'strata: a Kafka-style log broker with RabbitMQ routing, over HTTP and MessagePack',
    'npm package @strata-mq/broker; the client library is @strata-mq/broker/client',
    '',
    'Usage: strata <command> [options]',
    '',
    'Commands:',
    ...entries.map(([l, s]) => `  ${l.padEnd(width)}${s}`),
    '',
    'Global options:',
    ...globals,
    '',
    'Exit codes:',
    '  0    success',
    '  1    the broker answered with an error (its code is printed, e.g. TOPIC_NOT_FOUND)',
    '  2    usage error: unknown command or option, missing or malformed argument',
    '  3    no broker reachable at any --url (refused, cut or timed out)',
    '  130  interrupted by SIGINT or SIGTERM (confirmed writes stay written)',
    '',
    'Environment:',
    '  STRATA_URL    broker URL(s) when --url is not given, comma-separated',
    '  STRATA_TOKEN  an API token for a broker with --auth (or STRATA_USERNAME and STRATA_PASSWORD)',
    '',
    "Run 'strata <command> --help' for a command's options.",
    '',
  ].join('\n')
}

function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === '@strata-mq/broker') return `strata ${pkg.version}`
    } catch {
      // Not at this depth (source tree vs dist): try the next.
    }
  }
  return 'strata'
}
