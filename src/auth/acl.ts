/**
 * Kafka-style ACLs: allow rules only, deny by default.
 *
 * A rule allows one principal (a user name, or `*` for every authenticated one) one operation on
 * resources of one type whose name is `name` (literal; `*` is every name) or starts with `name`
 * (prefix). Any operation on a resource implies `describe` of it, as in Kafka. Superusers pass
 * every check. Internal topics (`__consumer_offsets`, any `__` name) are never granted to anyone
 * else, whatever the rules say: they are the broker's own state.
 */

export const Operations = ['read', 'write', 'create', 'delete', 'describe', 'alter'] as const
export type Operation = (typeof Operations)[number]

export const ResourceTypes = ['topic', 'group', 'exchange', 'cluster'] as const
export type ResourceType = (typeof ResourceTypes)[number]

export const PatternTypes = ['literal', 'prefix'] as const
export type PatternType = (typeof PatternTypes)[number]

/** The single name of the `cluster` resource. */
export const CLUSTER = 'strata'

export interface AclRule {
  id: string
  principal: string
  operation: Operation
  resourceType: ResourceType
  patternType: PatternType
  name: string
}

export interface Principal {
  name: string
  superuser: boolean
}

export interface Permission {
  operation: Operation
  resourceType: ResourceType
  name: string
}

export function isInternalTopic(name: string): boolean {
  return name.startsWith('__')
}

function ruleCovers(rule: AclRule, principal: Principal, wanted: Permission): boolean {
  if (rule.principal !== principal.name && rule.principal !== '*') return false
  if (rule.resourceType !== wanted.resourceType) return false
  if (rule.operation !== wanted.operation && wanted.operation !== 'describe') return false
  if (rule.patternType === 'prefix') return wanted.name.startsWith(rule.name)
  return rule.name === '*' || rule.name === wanted.name
}

export function isAllowed(rules: Iterable<AclRule>, principal: Principal, wanted: Permission): boolean {
  if (principal.superuser) return true
  if (wanted.resourceType === 'topic' && isInternalTopic(wanted.name)) return false
  for (const rule of rules) if (ruleCovers(rule, principal, wanted)) return true
  return false
}

export function describePermission(p: Permission): string {
  return p.resourceType === 'cluster'
    ? `${p.operation} the cluster`
    : `${p.operation} ${p.resourceType} "${p.name}"`
}
