/**
 * `strata users …`, `strata tokens …`, `strata acls …`: who may use a broker started with --auth.
 * Passwords are read from stdin (`--password-stdin`), never from a flag, so they stay out of `ps`
 * and shell history; a new token is printed once, since the broker keeps only its hash.
 */
import type { AclRule } from '../../client/types.js'
import { type CommandSpec, flag, noExtraPositionals, requirePositional, stringOption } from '../args.js'
import { type CommandContext, ExitCodes, UsageError } from '../context.js'
import { printJson, renderTable, write } from '../output.js'
import { readLines } from './input-lines.js'

const OPERATIONS = ['read', 'write', 'create', 'delete', 'describe', 'alter'] as const
const RESOURCE_TYPES = ['topic', 'group', 'exchange', 'cluster'] as const

const PASSWORD_STDIN = {
  'password-stdin': { type: 'boolean', description: 'read the password from the first line of stdin' },
} as const

async function passwordFromStdin(ctx: CommandContext, command: string): Promise<string> {
  for await (const [line] of readLines(undefined, ctx.io.stdin, ctx.signal)) return line
  throw new UsageError('--password-stdin: stdin held no password line', command)
}

async function done(ctx: CommandContext, value: unknown, text: string): Promise<number> {
  if (ctx.json) await printJson(ctx.io, value)
  else await write(ctx.io.stdout, text)
  return ExitCodes.OK
}

export const whoami: CommandSpec = {
  path: ['users', 'whoami'],
  summary: 'Show who the credentials in STRATA_TOKEN or STRATA_USERNAME/STRATA_PASSWORD are.',
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const me = await ctx.client().whoami()
    return done(ctx, me, `${me.name}${me.superuser ? ' (superuser)' : ''}\n`)
  },
}

export const usersList: CommandSpec = {
  path: ['users', 'list'],
  summary: 'List users with their tokens (ids and labels, never the tokens).',
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const users = await ctx.client().listUsers()
    if (ctx.json) return done(ctx, users, '')
    const rows = users.map((u) => [
      u.name,
      u.superuser ? 'yes' : 'no',
      u.hasPassword ? 'yes' : 'no',
      u.tokens.length,
    ])
    return done(ctx, users, renderTable(['USER', 'SUPERUSER', 'PASSWORD', 'TOKENS'], rows))
  },
}

export const usersCreate: CommandSpec = {
  path: ['users', 'create'],
  args: '<name>',
  summary: 'Create a user (with a password from stdin, or token-only).',
  options: {
    ...PASSWORD_STDIN,
    superuser: { type: 'boolean', description: 'may do everything, ACLs or not' },
  },
  examples: ['printf \'%s\\n\' "$ALICE_PASSWORD" | strata users create alice --password-stdin'],
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    const password = flag(ctx, 'password-stdin') ? await passwordFromStdin(ctx, 'users create') : undefined
    const user = await ctx.client().createUser({
      name,
      ...(password !== undefined && { password }),
      ...(flag(ctx, 'superuser') && { superuser: true }),
    })
    return done(ctx, user, `user ${name} created${user.superuser ? ' (superuser)' : ''}\n`)
  },
}

export const usersPasswd: CommandSpec = {
  path: ['users', 'passwd'],
  args: '<name>',
  summary: "Set a user's password (read from stdin).",
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    const user = await ctx
      .client()
      .updateUser(name, { password: await passwordFromStdin(ctx, 'users passwd') })
    return done(ctx, user, `password of ${name} changed\n`)
  },
}

export const usersDelete: CommandSpec = {
  path: ['users', 'delete'],
  args: '<name>',
  summary: 'Delete a user, their tokens and their ACLs.',
  async run(ctx) {
    const name = requirePositional(ctx, 0, 'name', this)
    noExtraPositionals(ctx, 1, this)
    await ctx.client().deleteUser(name)
    return done(ctx, { deleted: name }, `user ${name} deleted\n`)
  },
}

export const tokensCreate: CommandSpec = {
  path: ['tokens', 'create'],
  args: '<user>',
  summary: 'Create an API token for a user and print it (this once).',
  options: { label: { type: 'string', value: 'TEXT', description: 'what the token is for' } },
  examples: ['strata tokens create billing-svc --label prod'],
  async run(ctx) {
    const user = requirePositional(ctx, 0, 'user', this)
    noExtraPositionals(ctx, 1, this)
    const made = await ctx.client().createToken(user, stringOption(ctx, 'label') ?? '')
    return done(ctx, made, `${made.token}\n`)
  },
}

export const tokensList: CommandSpec = {
  path: ['tokens', 'list'],
  args: '<user>',
  summary: "List a user's tokens (ids and labels).",
  async run(ctx) {
    const user = requirePositional(ctx, 0, 'user', this)
    noExtraPositionals(ctx, 1, this)
    const tokens = (await ctx.client().listUsers()).find((u) => u.name === user)?.tokens ?? []
    const rows = tokens.map((t) => [t.id, t.label, new Date(t.createdAt).toISOString()])
    return done(ctx, tokens, renderTable(['ID', 'LABEL', 'CREATED'], rows))
  },
}

export const tokensRevoke: CommandSpec = {
  path: ['tokens', 'revoke'],
  args: '<user> <id>',
  summary: 'Revoke a token: it stops working on its next request.',
  async run(ctx) {
    const user = requirePositional(ctx, 0, 'user', this)
    const id = requirePositional(ctx, 1, 'id', this)
    noExtraPositionals(ctx, 2, this)
    await ctx.client().revokeToken(user, id)
    return done(ctx, { revoked: id }, `token ${id} of ${user} revoked\n`)
  },
}

export const aclsList: CommandSpec = {
  path: ['acls', 'list'],
  summary: 'List the ACL rules.',
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const acls = await ctx.client().listAcls()
    const rows = acls.map((a) => [a.id, a.principal, a.operation, a.resourceType, a.patternType, a.name])
    return done(ctx, acls, renderTable(['ID', 'PRINCIPAL', 'OPERATION', 'RESOURCE', 'PATTERN', 'NAME'], rows))
  },
}

function oneOf<T extends string>(ctx: CommandContext, option: string, allowed: readonly T[]): T {
  const value = stringOption(ctx, option)
  if (value === undefined || !allowed.includes(value as T)) {
    throw new UsageError(`--${option} must be one of ${allowed.join(', ')}`, 'acls add')
  }
  return value as T
}

export const aclsAdd: CommandSpec = {
  path: ['acls', 'add'],
  summary: 'Allow a principal an operation on a resource (by name, or by prefix with --prefix).',
  options: {
    principal: {
      type: 'string',
      value: 'USER',
      description: "a user name, or '*' for every user (required)",
    },
    operation: { type: 'string', value: 'OP', description: `${OPERATIONS.join(' | ')} (required)` },
    'resource-type': {
      type: 'string',
      value: 'TYPE',
      description: `${RESOURCE_TYPES.join(' | ')} (required)`,
    },
    name: {
      type: 'string',
      value: 'NAME',
      description: "the resource's name ('*' for all; the cluster's is 'strata')",
    },
    prefix: { type: 'boolean', description: 'match every name that starts with --name' },
  },
  examples: [
    'strata acls add --principal billing-svc --operation write --resource-type topic --name orders- --prefix',
  ],
  async run(ctx) {
    noExtraPositionals(ctx, 0, this)
    const principal = stringOption(ctx, 'principal')
    if (principal === undefined) throw new UsageError('--principal is required', 'acls add')
    const resourceType = oneOf(ctx, 'resource-type', RESOURCE_TYPES)
    const name = stringOption(ctx, 'name') ?? (resourceType === 'cluster' ? 'strata' : undefined)
    if (name === undefined) throw new UsageError('--name is required', 'acls add')
    const rule: Omit<AclRule, 'id'> = {
      principal,
      operation: oneOf(ctx, 'operation', OPERATIONS),
      resourceType,
      patternType: flag(ctx, 'prefix') ? 'prefix' : 'literal',
      name,
    }
    const added = await ctx.client().addAcl(rule)
    return done(
      ctx,
      added,
      `acl ${added.id}: ${principal} may ${rule.operation} ${resourceType} ${rule.patternType === 'prefix' ? `${name}*` : name}\n`,
    )
  },
}

export const aclsRemove: CommandSpec = {
  path: ['acls', 'remove'],
  args: '<id>',
  summary: 'Remove an ACL rule by its id.',
  async run(ctx) {
    const id = requirePositional(ctx, 0, 'id', this)
    noExtraPositionals(ctx, 1, this)
    await ctx.client().removeAcl(id)
    return done(ctx, { removed: id }, `acl ${id} removed\n`)
  },
}

export const securityCommands: readonly CommandSpec[] = [
  whoami,
  usersList,
  usersCreate,
  usersPasswd,
  usersDelete,
  tokensCreate,
  tokensList,
  tokensRevoke,
  aclsList,
  aclsAdd,
  aclsRemove,
]
