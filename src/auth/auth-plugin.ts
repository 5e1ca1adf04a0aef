/**
 * Authentication (onRequest) and authorization (preValidation) for every route, from the one table
 * in route-permissions.ts, plus the audit log.
 *
 * Authorization runs at preValidation: the body is parsed (bindings and joins name their topics
 * there) but not yet validated, so a principal without the permission learns nothing from
 * validation errors. Credentials are checked at onRequest, before any body is read.
 *
 * With auth off every request is anonymous and allowed, but the table is still enforced at route
 * registration and admin changes are still audited.
 *
 * Audit lines are pino lines through fastify's logger with `audit: true`, the principal, how it was
 * authenticated, the operation, the resource and the outcome; never a password, token or cookie.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ForbiddenError, UnauthenticatedError } from '../errors.js'
import {
  type AclRule,
  describePermission,
  isAllowed,
  type Permission,
  type Principal,
  type ResourceType,
} from './acl.js'
import type { Authenticator } from './authenticator.js'
import { type PermissionContext, type RouteRule, routeKey, routePermissions } from './route-permissions.js'
import { principalFromCertificate } from './tls-principal.js'

/** Where a principal came from, for the audit log (and token minting, which a token may not do). */
export type Authentication = 'password' | 'token' | 'session' | 'certificate'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; null with auth off or on a public route. */
    principal: Principal | null
    /** How the principal was authenticated; null when there is none. */
    authentication: Authentication | null
    /** Whether the principal may see this resource (list routes filter by it). */
    mayDescribe(resourceType: ResourceType, name: string): boolean
  }
}

export interface AuthPluginOptions {
  /** Off: everyone may do everything (loopback-only unless --insecure, see load-config.ts). */
  enabled: boolean
  authenticator?: Authenticator | undefined
  acls: () => readonly AclRule[]
  context: PermissionContext
  /** GET /metrics without credentials. */
  metricsOpen: boolean
  /** Audit events from before the server existed (the bootstrap admin). */
  startupAudit?: Array<{ details: object; message: string }>
}

/** A challenge a browser would answer with its own login box only where that is wanted. */
function challenge(request: FastifyRequest): string {
  return request.headers['x-requested-with'] === 'strata-console'
    ? 'Bearer realm="strata"'
    : 'Basic realm="strata", Bearer realm="strata"'
}

function principalName(request: FastifyRequest): string | null {
  return request.principal?.name ?? null
}

/**
 * The principal of a request, and how it was found. An Authorization header wins over the client
 * certificate: a client that sends credentials means to act as them (an admin's token on a machine
 * whose certificate names a service, a broker's inter-broker token next to its own certificate), and
 * a wrong one must fail loudly with 401, not quietly fall back to whoever the certificate names.
 * A certificate is used only when the request brings no credentials the authenticator knows (no
 * header, no live session), so the console's session also wins over a browser's certificate.
 */
async function authenticate(
  authenticator: Authenticator,
  request: FastifyRequest,
): Promise<{ principal: Principal; authentication: Authentication } | undefined> {
  const authorization = request.headers.authorization
  const principal = await authenticator.authenticate({
    authorization,
    cookie: request.headers.cookie,
    csrfToken: headerValue(request.headers['x-csrf-token']),
    safeMethod: request.method === 'GET' || request.method === 'HEAD',
  })
  if (principal) {
    if (authorization === undefined || authorization === '') return { principal, authentication: 'session' }
    // The authenticator accepted the header, so its scheme is Basic or Bearer.
    const bearer = authorization.slice(0, 6).toLowerCase() === 'bearer'
    return { principal, authentication: bearer ? 'token' : 'password' }
  }
  const commonName = principalFromCertificate(request.raw.socket)
  if (commonName === undefined) return undefined
  return { principal: authenticator.fromCertificate(commonName), authentication: 'certificate' }
}

/** What an audited change was about: the names in its path and body (never a password). */
function auditTarget(request: FastifyRequest): Record<string, unknown> {
  const target: Record<string, unknown> = { ...(request.params as Record<string, unknown>) }
  const body = request.body as Record<string, unknown> | undefined
  if (typeof body === 'object' && body !== null) {
    for (const key of [
      'name',
      'topic',
      'principal',
      'operation',
      'resourceType',
      'patternType',
      'superuser',
      'label',
    ]) {
      if (typeof body[key] === 'string' || typeof body[key] === 'boolean') target[key] = body[key]
    }
  }
  return target
}

export const authPlugin = fp(
  async (app: FastifyInstance, opts: AuthPluginOptions) => {
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method]
      for (const method of methods) {
        const key = routeKey(method, route.url)
        if (!Object.hasOwn(routePermissions, key)) {
          throw new Error(
            `route ${key} has no entry in src/auth/route-permissions.ts: every route must say who may call it`,
          )
        }
      }
    })

    for (const event of opts.startupAudit ?? []) app.log.info(event.details, event.message)

    app.decorateRequest('principal', null)
    app.decorateRequest('authentication', null)
    app.decorateRequest(
      'mayDescribe',
      function (this: FastifyRequest, resourceType: ResourceType, name: string) {
        if (!opts.enabled) return true
        const principal = this.principal
        return (
          principal !== null &&
          isAllowed(opts.acls(), principal, { operation: 'describe', resourceType, name })
        )
      },
    )

    const ruleOf = (request: FastifyRequest): RouteRule | undefined => {
      const url = request.routeOptions.url
      return url === undefined ? undefined : routePermissions[routeKey(request.method, url)]
    }

    const deny = (request: FastifyRequest, reason: string, permission?: Permission): never => {
      request.log.warn(
        {
          audit: true,
          principal: principalName(request),
          authentication: request.authentication,
          operation: permission?.operation ?? null,
          resource: permission ? { type: permission.resourceType, name: permission.name } : null,
          route: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`,
          outcome: 'denied',
        },
        `denied: ${reason}`,
      )
      throw new ForbiddenError(`${principalName(request)} may not ${reason}`)
    }

    if (opts.enabled) {
      const authenticator = opts.authenticator
      if (!authenticator) throw new Error('auth is on but no authenticator was given')
      app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        const rule = ruleOf(request)
        if (rule?.access === 'public') return
        if (rule?.access === 'acl' && rule.metrics && opts.metricsOpen) return
        try {
          const found = await authenticate(authenticator, request)
          if (!found) throw new UnauthenticatedError('credentials required: HTTP Basic or a Bearer token')
          request.principal = found.principal
          request.authentication = found.authentication
        } catch (err) {
          if (err instanceof UnauthenticatedError) {
            request.log.warn(
              {
                audit: true,
                principal: null,
                route: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`,
                outcome: 'unauthenticated',
              },
              `unauthenticated: ${err.message}`,
            )
            reply.header('www-authenticate', challenge(request))
          }
          throw err
        }
      })

      app.addHook('preValidation', async (request: FastifyRequest) => {
        const rule = ruleOf(request)
        const principal = request.principal
        if (rule === undefined || rule.access === 'public' || principal === null) return
        if (rule.access === 'authenticated' || principal.superuser) return
        if (rule.access === 'superuser')
          deny(request, `call ${request.method} ${request.routeOptions.url} (superusers only)`)
        if (rule.access === 'self') {
          const user = (request.params as { user?: unknown }).user
          if (user !== principal.name) deny(request, `manage user "${String(user)}"`)
          if (rule.mintsCredentials && request.authentication === 'token')
            deny(request, 'create a token with a token (use the password)')
          return
        }
        if (rule.access !== 'acl') return
        const wanted = rule.needs(
          { params: request.params as Record<string, unknown>, body: request.body },
          opts.context,
        )
        const acls = opts.acls()
        for (const permission of wanted) {
          if (!isAllowed(acls, principal, permission))
            deny(request, describePermission(permission), permission)
        }
      })
    }

    // Callback style: this runs for every request, and an async hook costs a promise each.
    app.addHook('onResponse', (request, reply, done) => {
      // A denial was logged as one where it happened.
      if (!ruleOf(request)?.audit || reply.statusCode === 401 || reply.statusCode === 403) return done()
      request.log.info(
        {
          audit: true,
          principal: opts.enabled ? principalName(request) : 'anonymous',
          authentication: request.authentication,
          operation: `${request.method} ${request.routeOptions.url}`,
          resource: auditTarget(request),
          outcome: reply.statusCode < 400 ? 'success' : 'failure',
          status: reply.statusCode,
        },
        'admin change',
      )
      done()
    })
  },
  { name: 'strata-auth' },
)

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
