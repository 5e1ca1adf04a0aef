/**
 * Command specs, argument parsing and help text, from one description per command.
 *
 * Parsing is node:util `parseArgs` in strict mode: an unknown option or a missing value is a usage
 * error (exit 2), never a guess. Global options (`--url`, `--json`, `--timeout`, `--help`) are
 * accepted anywhere on the line. Help text is generated from the same option table the parser
 * uses, so it cannot drift from what the command accepts.
 */
import { parseArgs } from 'node:util'
import { type CommandContext, UsageError } from './context.js'
import { TLS_OPTIONS } from './tls.js'

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Placeholder in help, e.g. `N` in `--partitions N`. */
  value?: string
  description: string
}

export interface CommandSpec {
  /** Words after `strata`, e.g. `['topics', 'create']`. */
  path: readonly string[]
  /** Positional arguments as shown in usage, e.g. `<name>`. */
  args?: string
  summary: string
  /** Extra paragraphs for `--help`. */
  details?: string
  options?: Record<string, OptionSpec>
  examples?: readonly string[]
  /** Long-running: SIGINT / SIGTERM abort `ctx.signal` instead of killing the process. */
  interruptible?: boolean
  run(ctx: CommandContext): Promise<number>
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: 'string',
    multiple: true,
    value: 'URL',
    description:
      'broker URL; repeat or comma-separate for several (default $STRATA_URL or http://127.0.0.1:8082)',
  },
  json: {
    type: 'boolean',
    description: 'machine-readable JSON output (one object, or one per line for streams)',
  },
  timeout: {
    type: 'string',
    value: 'MS',
    description: 'per-request timeout in milliseconds (default 30000)',
  },
  ...TLS_OPTIONS,
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
}

export interface ParsedCommand {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

export function parseCommand(spec: CommandSpec, argv: string[]): ParsedCommand {
  const options = { ...GLOBAL_OPTIONS, ...spec.options }
  const config = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      {
        type: o.type,
        ...(o.short !== undefined && { short: o.short }),
        ...(o.multiple && { multiple: true }),
      },
    ]),
  )
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: config,
      strict: true,
      allowPositionals: true,
    })
    return { values: values as ParsedCommand['values'], positionals }
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0] ?? 'bad arguments', spec.path.join(' '))
  }
}

/** The `--help` text of one command. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [
    `Usage: strata ${spec.path.join(' ')}${spec.args ? ` ${spec.args}` : ''} [options]`,
    '',
    spec.summary,
  ]
  if (spec.details) lines.push('', spec.details)
  if (spec.options && Object.keys(spec.options).length > 0)
    lines.push('', 'Options:', ...optionLines(spec.options))
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS))
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`))
  return `${lines.join('\n')}\n`
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`
    return [flag, o.description + (o.multiple ? ' (repeatable)' : '')] as const
  })
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2
  return rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`)
}

// ---- typed option readers ------------------------------------------------------------------

export function stringOption(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name]
  return typeof v === 'string' ? v : undefined
}

export function listOption(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name]
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : []
}

export function flag(ctx: CommandContext, name: string): boolean {
  return ctx.values[name] === true
}

/** A whole number option, checked against `min`; absent gives `fallback`. */
export function intOption(ctx: CommandContext, name: string, fallback: number, min?: number): number
export function intOption(
  ctx: CommandContext,
  name: string,
  fallback: undefined,
  min?: number,
): number | undefined
export function intOption(
  ctx: CommandContext,
  name: string,
  fallback: number | undefined,
  min = 0,
): number | undefined {
  const raw = stringOption(ctx, name)
  if (raw === undefined) return fallback
  return parseWhole(raw, `--${name}`, min)
}

export function parseWhole(raw: string, what: string, min = 0): number {
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${what} must be a whole number${min > 0 ? ` ≥ ${min}` : ' ≥ 0'}, got '${raw}'`)
  }
  return n
}

/** The one positional argument a command needs, by name for the error message. */
export function requirePositional(
  ctx: CommandContext,
  index: number,
  name: string,
  spec: CommandSpec,
): string {
  const v = ctx.positionals[index]
  if (v === undefined || v === '') throw new UsageError(`missing <${name}>`, spec.path.join(' '))
  return v
}

export function noExtraPositionals(ctx: CommandContext, count: number, spec: CommandSpec): void {
  if (ctx.positionals.length > count) {
    throw new UsageError(`unexpected argument '${ctx.positionals[count]}'`, spec.path.join(' '))
  }
}

/** `--acks 0|1|all`. */
export function acksOption(ctx: CommandContext): 0 | 1 | 'all' | undefined {
  const raw = stringOption(ctx, 'acks')
  if (raw === undefined) return undefined
  if (raw === 'all') return 'all'
  if (raw === '0' || raw === '1') return Number(raw) as 0 | 1
  throw new UsageError(`--acks must be 0, 1 or all, got '${raw}'`)
}
