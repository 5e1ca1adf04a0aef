/**
 * The console's login against a real broker with --auth: the session cookie's attributes, CSRF on
 * changes, lists that show only what the user may describe, logout, and no deleting without a login.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SessionStore } from '../../../src/auth/sessions.js'
import type { BrokerProcess } from '../../helpers/broker-process.js'
import { adminCall, call, grant, makeUser, startAuthBroker } from './auth-helpers.js'

let broker: BrokerProcess
let url: string

beforeAll(async () => {
  broker = await startAuthBroker()
  url = broker.url
  await makeUser(url, 'dana', 'dana-password')
  for (const name of ['visible', 'hidden']) await adminCall(url, 'POST', '/v1/topics', { name }, 201)
  await grant(url, 'dana', 'delete', 'topic', 'visible')
}, 60_000)

afterAll(async () => {
  await broker?.stop()
})

const consoleHeaders = (cookie: string, csrf?: string) => ({
  cookie,
  'x-requested-with': 'strata-console',
  ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }),
})

describe('console login', () => {
  it('without a login the console can neither list nor delete, and the browser is not asked for Basic', async () => {
    const page = await call(url, 'GET', '/console')
    expect(page.status).toBe(200)
    expect(page.body).toContain('<form id="login-form">')
    const del = await call(url, 'DELETE', '/v1/topics/hidden', {
      headers: { 'x-requested-with': 'strata-console' },
    })
    expect(del.status).toBe(401)
    expect(del.headers.get('www-authenticate')).toBe('Bearer realm="strata"')
    expect((await call(url, 'GET', '/console/session')).status).toBe(401)
  })

  it('a wrong password gets no session', async () => {
    const res = await call(url, 'POST', '/console/login', {
      body: { username: 'dana', password: 'nope-nope' },
    })
    expect(res.status).toBe(401)
    expect(res.headers.get('set-cookie')).toBeNull()
  })

  it('a session: HttpOnly SameSite=Strict cookie, CSRF on changes, filtered lists, logout', async () => {
    const login = await call(url, 'POST', '/console/login', {
      body: { username: 'dana', password: 'dana-password' },
    })
    expect(login.status).toBe(200)
    const setCookie = login.headers.get('set-cookie') as string
    expect(setCookie).toMatch(
      /^strata_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/,
    )
    const cookie = setCookie.split(';')[0] as string
    const csrf = login.body.csrfToken as string
    expect(login.body).toEqual({ name: 'dana', superuser: false, csrfToken: csrf, auth: true })

    const session = await call(url, 'GET', '/console/session', { headers: consoleHeaders(cookie) })
    expect(session.body).toEqual({ name: 'dana', superuser: false, csrfToken: csrf, auth: true })
    const topics = await call(url, 'GET', '/v1/topics', { headers: consoleHeaders(cookie) })
    expect(topics.body.topics.map((t: { name: string }) => t.name)).toEqual(['visible'])

    const noCsrf = await call(url, 'DELETE', '/v1/topics/visible', { headers: consoleHeaders(cookie) })
    expect(noCsrf.status).toBe(401)
    expect(noCsrf.body.error.message).toBe('missing or wrong x-csrf-token for this session')
    const wrongCsrf = await call(url, 'DELETE', '/v1/topics/visible', {
      headers: consoleHeaders(cookie, `${csrf.slice(1)}x`),
    })
    expect(wrongCsrf.status).toBe(401)
    const notAllowed = await call(url, 'DELETE', '/v1/topics/hidden', {
      headers: consoleHeaders(cookie, csrf),
    })
    expect(notAllowed.status).toBe(403)
    const deleted = await call(url, 'DELETE', '/v1/topics/visible', { headers: consoleHeaders(cookie, csrf) })
    expect(deleted.status).toBe(204)

    const logout = await call(url, 'POST', '/console/logout', { headers: consoleHeaders(cookie) })
    expect(logout.status).toBe(204)
    expect(logout.headers.get('set-cookie')).toBe(
      'strata_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0',
    )
    expect((await call(url, 'GET', '/v1/topics', { headers: consoleHeaders(cookie) })).status).toBe(401)
  })
})

describe('SessionStore', () => {
  it('forgets a session once it expired', () => {
    const expired = new SessionStore(-1)
    const session = expired.start('dana', 'hash')
    expect(expired.fromCookie(`strata_session=${session.id}`)).toBeUndefined()
    const live = new SessionStore(60_000)
    const kept = live.start('dana', 'hash')
    expect(live.fromCookie(`other=1; strata_session=${kept.id}`)?.user).toBe('dana')
  })

  it("one user logging in over and over cannot push everyone else's sessions out", () => {
    const store = new SessionStore(60_000)
    const admin = store.start('admin', 'hash')
    const flood = Array.from({ length: 10_050 }, () => store.start('mallory', 'hash'))
    expect(store.fromCookie(`strata_session=${admin.id}`)?.user).toBe('admin')
    // mallory's newest sessions live, the oldest ones made room for them.
    expect(store.fromCookie(`strata_session=${flood.at(-1)?.id}`)?.user).toBe('mallory')
    expect(store.fromCookie(`strata_session=${flood[0]?.id}`)).toBeUndefined()
  })
})
