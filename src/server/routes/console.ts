/**
 * The web console: one static page (src/console/index.html) that uses the public JSON API, so
 * it shows nothing the CLI could not. Read once at start; `/` redirects to it.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Principal } from '../../auth/acl.js'
import { SESSION_COOKIE } from '../../auth/sessions.js'
import type { BrokerAuth } from '../../auth/setup.js'

// The page is not compiled: from dist/src/server/routes or from src/server/routes (tests that
// import the TypeScript), it is the package root's src/console/index.html.
const PAGE = [
  resolve(import.meta.dirname, '../../../../src/console/index.html'),
  resolve(import.meta.dirname, '../../console/index.html'),
].find((path) => existsSync(path)) as string

export async function consoleRoutes(app: FastifyInstance) {
  const html = readFileSync(PAGE)
  app.get('/', async (_req, reply) => reply.redirect('/console'))
  app.get('/console', async (_req, reply) => reply.type('text/html; charset=utf-8').send(html))
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
    let principal: Principal
    try {
      principal = await authenticator.verify(req.body.username, req.body.password)
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
    const session = sessions.start(principal.name)
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
