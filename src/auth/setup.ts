/**
 * Puts authentication together for a broker: the store of users and ACLs (loaded, and seeded with
 * the bootstrap admin on a first start with --auth), the authenticator, console sessions, and the
 * options of the fastify plugin. start-broker.ts calls `setUpAuth` once.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BrokerConfig } from '../config/schema.js'
import { InvalidConfigError } from '../errors.js'
import type { AuthPluginOptions } from './auth-plugin.js'
import { type AuthBackend, AuthStore, BOOTSTRAP_ADMIN, FileAuthBackend } from './auth-store.js'
import { Authenticator } from './authenticator.js'
import type { PermissionContext } from './route-permissions.js'
import { SessionStore } from './sessions.js'

export interface BrokerAuth {
  store: AuthStore
  authenticator: Authenticator
  sessions: SessionStore
  pluginOptions(context: PermissionContext): AuthPluginOptions
}

export function authFile(dataDir: string): string {
  return join(dataDir, '__metadata', 'auth.json')
}

/** The bootstrap admin's password: the file (first line) beats STRATA_ADMIN_PASSWORD / --admin-password. */
function bootstrapPassword(config: BrokerConfig): string {
  if (config.adminPasswordFile !== '') {
    try {
      return (readFileSync(config.adminPasswordFile, 'utf8').split(/\r?\n/)[0] ?? '').trim()
    } catch (err) {
      throw new InvalidConfigError(
        `--admin-password-file ${config.adminPasswordFile}: ${(err as Error).message}`,
      )
    }
  }
  return config.adminPassword
}

export async function setUpAuth(
  config: BrokerConfig,
  opts: { backend?: AuthBackend } = {},
): Promise<BrokerAuth> {
  // Logged by the plugin once the server (and its logger) exists.
  const startupAudit: AuthPluginOptions['startupAudit'] = []
  const store = new AuthStore(opts.backend ?? new FileAuthBackend(authFile(config.dataDir)))
  await store.load()
  if (config.auth && store.snapshot.users.length === 0) {
    const password = bootstrapPassword(config)
    if (password.length < 8) {
      throw new InvalidConfigError(
        password === ''
          ? '--auth is on and no users exist: give the first admin a password with STRATA_ADMIN_PASSWORD or --admin-password-file'
          : 'the bootstrap admin password must be at least 8 characters',
      )
    }
    if (await store.bootstrapAdmin(password)) {
      startupAudit.push({
        details: {
          audit: true,
          principal: null,
          operation: 'bootstrap',
          resource: { user: BOOTSTRAP_ADMIN },
          outcome: 'success',
        },
        message: `created superuser "${BOOTSTRAP_ADMIN}" (no users existed)`,
      })
    }
  }
  const sessions = new SessionStore()
  const authenticator = new Authenticator(store, sessions, config.interBrokerToken)
  return {
    store,
    authenticator,
    sessions,
    pluginOptions: (context) => ({
      enabled: config.auth,
      authenticator,
      acls: () => store.acls,
      context,
      metricsOpen: config.metricsOpen,
      startupAudit,
    }),
  }
}
