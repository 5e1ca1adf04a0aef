/**
 * Builds the one frozen BrokerConfig from, highest first: CLI flags, STRATA_* environment
 * variables, a JSON config file (--config / STRATA_CONFIG), and the defaults in schema.ts.
 *
 * Every problem is reported at once in one INVALID_CONFIG error, so an operator fixes a bad
 * start in one go instead of one flag per restart.
 */
import { readFileSync } from 'node:fs'
import type { TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { InvalidConfigError } from '../errors.js'
import {
  type BrokerConfig,
  BrokerConfigSchema,
  defaultConfig,
  type OptionName,
  optionDocs,
} from './schema.js'
import { tlsConfigProblems } from './tls-config.js'

const optionNames = Object.keys(optionDocs) as OptionName[]

export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

export function envName(name: string): string {
  return `STRATA_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

const byFlag = new Map(optionNames.map((n) => [kebabCase(n), n]))

/** Turns a string from a flag or the environment into the type the default has. */
function coerce(name: OptionName, raw: string): unknown {
  const def = optionDocs[name].default
  if (typeof def === 'boolean') {
    if (raw === 'true' || raw === '1') return true
    if (raw === 'false' || raw === '0') return false
    return raw
  }
  if (typeof def === 'number') {
    const n = Number(raw)
    return raw.trim() === '' || Number.isNaN(n) ? raw : n
  }
  return raw
}

export interface ParsedFlags {
  values: Partial<Record<OptionName, unknown>>
  help: boolean
  problems: string[]
}

export function parseFlags(argv: readonly string[]): ParsedFlags {
  const values: Partial<Record<OptionName, unknown>> = {}
  const problems: string[] = []
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--help' || arg === '-h') {
      help = true
      continue
    }
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument "${arg}"`)
      continue
    }
    const eq = arg.indexOf('=')
    const flag = arg.slice(2, eq === -1 ? undefined : eq)
    const name = byFlag.get(flag)
    if (name === undefined) {
      problems.push(`unknown option --${flag}`)
      if (eq === -1 && argv[i + 1] !== undefined && !argv[i + 1]?.startsWith('--')) i++
      continue
    }
    // A switch (`--auth`) needs no value; `--auth false` and `--auth=false` still turn it off.
    const next = argv[i + 1]
    const isSwitch = typeof optionDocs[name].default === 'boolean'
    if (isSwitch && eq === -1 && (next === undefined || !/^(true|false|1|0)$/.test(next))) {
      values[name] = true
      continue
    }
    let raw: string | undefined = eq === -1 ? next : arg.slice(eq + 1)
    if (eq === -1) i++
    if (raw === undefined) {
      problems.push(`--${flag} needs a value`)
      continue
    }
    values[name] = coerce(name, raw)
    raw = undefined
  }
  return { values, help, problems }
}

function fromEnv(env: NodeJS.ProcessEnv): Partial<Record<OptionName, unknown>> {
  const out: Partial<Record<OptionName, unknown>> = {}
  for (const name of optionNames) {
    const raw = env[envName(name)]
    if (raw !== undefined && raw !== '') out[name] = coerce(name, raw)
  }
  return out
}

function fromFile(path: string, problems: string[]): Partial<Record<OptionName, unknown>> {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'))
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`config file ${path} must hold a JSON object`)
      return {}
    }
    return parsed as Partial<Record<OptionName, unknown>>
  } catch (err) {
    problems.push(`config file ${path}: ${(err as Error).message}`)
    return {}
  }
}

/**
 * Validates a candidate config and returns every problem as a readable line, one per option.
 * Each option is checked on its own: typebox stops reporting after a failed union, and an
 * operator should see every bad flag at once.
 */
export function configProblems(candidate: Record<string, unknown>): string[] {
  const unique: string[] = []
  const properties = BrokerConfigSchema.properties as Record<string, TSchema>
  for (const key of Object.keys(candidate)) {
    if (!Object.hasOwn(properties, key)) unique.push(`unknown option ${key}`)
  }
  for (const [key, schema] of Object.entries(properties)) {
    const first = Value.Errors(schema, candidate[key])[0]
    if (first === undefined) continue
    const doc = optionDocs[key as OptionName]
    const detail = first.keyword === 'const' || first.keyword === 'anyOf' ? doc.description : first.message
    unique.push(`--${kebabCase(key)}: invalid value ${JSON.stringify(candidate[key])} (${detail})`)
  }
  if (
    typeof candidate.groupMinSessionTimeoutMs === 'number' &&
    typeof candidate.groupMaxSessionTimeoutMs === 'number' &&
    candidate.groupMinSessionTimeoutMs > candidate.groupMaxSessionTimeoutMs
  ) {
    unique.push('--group-min-session-timeout-ms must not exceed --group-max-session-timeout-ms')
  }
  if (
    typeof candidate.defaultPartitions === 'number' &&
    typeof candidate.maxPartitionsPerTopic === 'number' &&
    candidate.defaultPartitions > candidate.maxPartitionsPerTopic
  ) {
    unique.push('--default-partitions must not exceed --max-partitions-per-topic')
  }
  if (typeof candidate.etcd === 'string' && candidate.etcd !== '' && candidate.advertiseUrl === '') {
    unique.push('--advertise-url is required with --etcd (other brokers must reach this one)')
  }
  unique.push(...tlsConfigProblems(candidate))
  if (candidate.auth !== true && candidate.insecure !== true && typeof candidate.host === 'string') {
    if (!isLoopbackHost(candidate.host)) {
      unique.push(
        `--host ${candidate.host} without --auth would let anyone who reaches the port do anything: turn on --auth, or pass --insecure to accept that`,
      )
    }
  }
  if (candidate.auth === true && candidate.etcd !== '' && candidate.interBrokerToken === '') {
    unique.push('--inter-broker-token (or STRATA_INTER_BROKER_TOKEN) is required with --auth and --etcd')
  }
  return unique
}

/** Only this machine can reach a loopback address; every other one (0.0.0.0, ::, a LAN IP) is open. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '')
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare)
}

export interface LoadedConfig {
  config: BrokerConfig
  help: boolean
}

/** Loads flags > env > file > defaults; throws InvalidConfigError listing every problem. */
export function loadConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<OptionName, unknown>> = {},
): LoadedConfig {
  const flags = parseFlags(argv)
  const environment = fromEnv(env)
  const problems = [...flags.problems]
  const filePath = (flags.values.config ?? environment.config ?? '') as string
  const file = filePath ? fromFile(filePath, problems) : {}
  const candidate: Record<string, unknown> = {
    ...defaultConfig(),
    ...file,
    ...environment,
    ...flags.values,
    ...overrides,
  }
  problems.push(...configProblems(candidate))
  if (problems.length > 0 && !flags.help) {
    throw new InvalidConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`, { problems })
  }
  return { config: Object.freeze(candidate) as BrokerConfig, help: flags.help }
}

/** The text of `strata serve --help`: every option, its flag, variable and default. */
export function serveHelp(): string {
  const lines = [
    'Usage: strata serve [options]',
    '',
    'Starts a broker. Options come from flags, then STRATA_* variables, then --config, then defaults.',
    '',
  ]
  for (const name of optionNames) {
    const doc = optionDocs[name]
    lines.push(`  --${kebabCase(name)} <value>   (${envName(name)}, default: ${JSON.stringify(doc.default)})`)
    lines.push(`      ${doc.description}`)
  }
  return lines.join('\n')
}
