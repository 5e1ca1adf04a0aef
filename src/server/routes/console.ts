/**
 * The web console: one static page (src/console/index.html) that uses the public JSON API, so
 * it shows nothing the CLI could not, plus uPlot (its charts) from the uplot package's dist files
 * and `GET /v1/console/stats`, the broker's last hour of rates for the charts. Read once at start;
 * `/` redirects to it.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, resolve } from 'node:path'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Principal } from '../../auth/acl.js'
import { SESSION_COOKIE, type Session } from '../../auth/sessions.js'
import type { BrokerAuth } from '../../auth/setup.js'
import type { BrokerMetrics } from '../../metrics/broker-metrics.js'
import { StatsRing } from '../../metrics/stats-ring.js'

// The page is not compiled: from dist/src/server/routes or from src/server/routes (tests that
// import the TypeScript), it is the package root's src/console/index.html.
const PAGE = [
  resolve(import.meta.dirname, '../../../../src/console/index.html'),
  resolve(import.meta.dirname, '../../console/index.html'),
].find((path) => existsSync(path)) as string

const UPLOT_DIST = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'))

export async function consoleRoutes(app: FastifyInstance) {
  const html = readFileSync(PAGE)
  const uplotJs = readFileSync(resolve(UPLOT_DIST, 'uPlot.iife.min.js'))
  const uplotCss = readFileSync(resolve(UPLOT_DIST, 'uPlot.min.css'))
  // The files never change while the broker runs; a day's caching spares a reload of 50 KB.
  const cached = 'public, max-age=86400'
  app.get('/', async (_req, reply) => reply.redirect('/console'))
  app.get('/console', async (_req, reply) => reply.type('text/html; charset=utf-8').send(html))
  app.get('/console/uplot.js', async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', cached).send(uplotJs),
  )
  app.get('/console/uplot.css', async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', cached).send(uplotCss),
  )
}

const StatsQuery = Type.Object(
  { minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 60 })) },
  { additionalProperties: false },
)

/**
 * `GET /v1/console/stats?minutes=60` → `{intervalMs, samples: [RateSample…]}`, oldest first: the
 * rates of the last `minutes` (default and most 60) from the broker's in-memory ring. Sampling
 * starts with this plugin and stops when the server closes.
 */
export async function consoleStatsRoutes(
  app: FastifyInstance,
  opts: { metrics: BrokerMetrics; ring?: StatsRing },
) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const ring = opts.ring ?? new StatsRing(opts.metrics)
  ring.start()
  app.addHook('onClose', async () => ring.stop())
  r.get('/v1/console/stats', { schema: { querystring: StatsQuery } }, async (req, reply) => {
    const minutes = req.query.minutes ?? 60
    return reply.sendData({ intervalMs: ring.intervalMs, samples: ring.since(Date.now() - minutes * 60_000) })
  })
}

const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
)

/**
 * The console's login (src/auth/sessions.ts): `POST /console/login` `{username, password}` sets the
 * session cookie and answers `{name, superuser, csrfToken}`; `GET /console/session` answers the same
 * for a live session (the page asks on load); `POST /console/logout` ends it.
 */
export async function consoleLoginRoutes(
  app: FastifyInstance,
  opts: { auth: BrokerAuth; authEnabled: boolean },
) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { authenticator, sessions } = opts.auth
  const cookie = (req: FastifyRequest, value: string, maxAgeS: number) =>
    // Secure whenever the page came over TLS: the cookie must never travel in clear after that.
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${req.protocol === 'https' ? '; Secure' : ''}`

  r.post('/console/login', { schema: { body: LoginBody } }, async (req, reply) => {
    let login: { principal: Principal; session: Session }
    try {
      login = await authenticator.login(req.body.username, req.body.password)
    } catch (err) {
      req.log.warn(
        {
          audit: true,
          principal: null,
          operation: 'console login',
          resource: { user: req.body.username },
          outcome: 'denied',
        },
        'console login failed',
      )
      throw err
    }
    const { principal, session } = login
    reply.header('set-cookie', cookie(req, session.id, Math.floor(sessions.ttlMs / 1000)))
    return reply.sendData({ ...principal, csrfToken: session.csrfToken, auth: true })
  })

  r.get('/console/session', async (req, reply) => {
    if (!opts.authEnabled)
      return reply.sendData({ name: 'anonymous', superuser: true, csrfToken: '', auth: false })
    const session = sessions.fromCookie(req.headers.cookie)
    return reply.sendData({ ...req.principal, csrfToken: session?.csrfToken ?? '', auth: true })
  })

  r.post('/console/logout', async (req, reply) => {
    const session = sessions.fromCookie(req.headers.cookie)
    if (session) sessions.end(session.id)
    reply.header('set-cookie', cookie(req, '', 0))
    return reply.code(204).send()
  })
}
