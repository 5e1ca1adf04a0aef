/** Requests with credentials for the auth tests, and a broker started with --auth. */
import { type BrokerProcess, startBroker } from '../../helpers/broker-process.js'

export const ADMIN_PASSWORD = 'admin-secret-1'

export type Auth = { basic: [string, string] } | { bearer: string } | undefined

export interface AuthReply {
  status: number
  body: any
  headers: Headers
}

export function authHeader(auth: Auth): Record<string, string> {
  if (auth === undefined) return {}
  if ('basic' in auth)
    return { authorization: `Basic ${Buffer.from(auth.basic.join(':')).toString('base64')}` }
  return { authorization: `Bearer ${auth.bearer}` }
}

export const admin: Auth = { basic: ['admin', ADMIN_PASSWORD] }

export async function call(
  url: string,
  method: string,
  path: string,
  opts: { auth?: Auth; body?: unknown; headers?: Record<string, string> } = {},
): Promise<AuthReply> {
  const res = await fetch(`${url}${path}`, {
    method,
    redirect: 'manual',
    headers: {
      ...authHeader(opts.auth),
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    body: opts.body === undefined ? null : JSON.stringify(opts.body),
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    // /metrics and the console page are not JSON.
  }
  return { status: res.status, body, headers: res.headers }
}

/** Calls as admin and insists on the expected status (setup steps must not fail silently). */
export async function adminCall(url: string, method: string, path: string, body?: unknown, expect?: number) {
  const res = await call(url, method, path, { auth: admin, body })
  if (expect !== undefined ? res.status !== expect : res.status >= 400) {
    throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`)
  }
  return res
}

export function startAuthBroker(
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<BrokerProcess> {
  return startBroker({
    args: ['--auth', '--workers', '0', ...args],
    env: { STRATA_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env },
  })
}

/** Creates a user with a password and one token; returns the token. */
export async function makeUser(url: string, name: string, password: string): Promise<string> {
  await adminCall(url, 'POST', '/v1/users', { name, password }, 201)
  const made = await adminCall(url, 'POST', `/v1/users/${name}/tokens`, { label: 'test' }, 201)
  return made.body.token as string
}

export async function grant(
  url: string,
  principal: string,
  operation: string,
  resourceType: string,
  name: string,
  patternType: 'literal' | 'prefix' = 'literal',
): Promise<string> {
  const res = await adminCall(
    url,
    'POST',
    '/v1/acls',
    { principal, operation, resourceType, name, patternType },
    201,
  )
  return res.body.id as string
}
