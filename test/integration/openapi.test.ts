/**
 * The API's three descriptions stay in step (issue 14): the routes a broker serves, the OpenAPI
 * document it generates (`GET /openapi.json`), docs/http-api.md, and the error table of
 * src/errors.ts. Against a real broker process.
 *
 * The routes a broker serves are the permission table's keys: the auth plugin refuses to register
 * a route that has no entry (auth-plugin.ts), and test/integration/auth/route-matrix.test.ts calls
 * every entry. Swagger UI's own page and assets are not in the document (they describe nothing),
 * and replication routes exist only in a cluster.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { routePermissions } from '../../src/auth/route-permissions.js'
import { ErrorCodes } from '../../src/errors.js'
import * as S from '../../src/server/openapi/response-schemas.js'
import { type BrokerProcess, startBroker } from '../helpers/broker-process.js'

interface Operation {
  summary?: string
  tags?: string[]
  responses: Record<string, { content?: Record<string, { schema?: { properties?: ErrorProperties } }> }>
}
interface ErrorProperties {
  error?: { properties?: { code?: { enum?: string[] } } }
}
interface OpenApiDocument {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { schemas: { Error: { properties: ErrorProperties } } }
}

const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/http-api.md'), 'utf8')
const isDocsUi = (key: string) => /^GET \/docs(\/|$)/.test(key)
const CLUSTER_ONLY = new Set([
  'GET /v1/replication/:topic/:partition',
  'GET /v1/replication/:topic/:partition/epochs/:epoch',
  'POST /v1/replication/:topic/:partition/preferred-leader',
])

let broker: BrokerProcess
let openapi: OpenApiDocument

/** `METHOD /a/{b}` of the document as the route key `METHOD /a/:b`. */
function operations(): Array<{ key: string; op: Operation }> {
  return Object.entries(openapi.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      key: `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`,
      op,
    })),
  )
}

/** The error codes an operation's error responses name, with the status they are listed under. */
function documentedErrors(op: Operation): Array<{ status: number; code: string }> {
  return Object.entries(op.responses).flatMap(([status, response]) =>
    Object.values(response.content ?? {}).flatMap(
      (media) =>
        media.schema?.properties?.error?.properties?.code?.enum?.map((code) => ({
          status: Number(status),
          code,
        })) ?? [],
    ),
  )
}

async function json(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${broker.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

beforeAll(async () => {
  broker = await startBroker()
  const res = await fetch(`${broker.url}/openapi.json`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^application\/json/)
  openapi = (await res.json()) as OpenApiDocument
}, 60_000)

afterAll(async () => {
  await broker?.stop()
})

describe('GET /openapi.json', () => {
  it('is OpenAPI 3 and lists exactly the routes a single broker serves', () => {
    expect(openapi.openapi).toMatch(/^3\./)
    // OpenAPI 3.0 schemas take only its keywords and x- extensions.
    expect(JSON.stringify(openapi)).not.toContain('"nameRule"')
    expect(JSON.stringify(openapi)).toContain('"x-name-rule":"topic"')
    const served = Object.keys(routePermissions).filter((key) => !isDocsUi(key) && !CLUSTER_ONLY.has(key))
    expect(
      operations()
        .map((o) => o.key)
        .sort(),
    ).toEqual(served.sort())
  })

  it('gives every route a tag, a summary, a success answer and its error answers in the envelope', () => {
    for (const { key, op } of operations()) {
      expect(op.tags?.length, key).toBe(1)
      expect(op.summary, key).toBeTruthy()
      const statuses = Object.keys(op.responses).map(Number)
      expect(
        statuses.some((s) => s < 400),
        key,
      ).toBe(true)
      const errors = documentedErrors(op)
      expect(errors.length, key).toBeGreaterThan(0)
      // Each error response names only codes of its status, and every error status has some.
      for (const { status, code } of errors)
        expect(ErrorCodes[code as keyof typeof ErrorCodes]?.status, `${key} ${code}`).toBe(status)
      expect(new Set(errors.map((e) => e.status)), key).toEqual(new Set(statuses.filter((s) => s >= 400)))
    }
  })

  it('names every code of src/errors.ts in the envelope schema and on some route', () => {
    const codes = Object.keys(ErrorCodes).sort()
    expect(
      [...(openapi.components.schemas.Error.properties.error?.properties?.code?.enum ?? [])].sort(),
    ).toEqual(codes)
    const onRoutes = new Set(operations().flatMap(({ op }) => documentedErrors(op).map((e) => e.code)))
    // NOT_FOUND is also what an unknown path gets; every other code comes from some route.
    expect(codes.filter((code) => !onRoutes.has(code))).toEqual([])
  })

  it('the page at /docs renders it', async () => {
    const page = await fetch(`${broker.url}/docs`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    const spec = await json('GET', '/docs/json')
    expect(spec.body).toEqual(openapi)
  })
})

describe('docs/http-api.md', () => {
  it('documents every route of the permission table, and no route that is not one', () => {
    for (const key of Object.keys(routePermissions)) expect(DOC.includes(`\`${key}\``), key).toBe(true)
    // Each route has its own heading; Swagger UI's assets are listed under `GET /docs`.
    const headings = [...DOC.matchAll(/^#### `([A-Z]+ \/[^`]*)`$/gm)].map((m) => m[1] as string)
    expect(headings.filter((key) => !Object.hasOwn(routePermissions, key))).toEqual([])
    expect(Object.keys(routePermissions).filter((key) => !headings.includes(key) && !isDocsUi(key))).toEqual(
      [],
    )
  })

  it('names every error code of src/errors.ts', () => {
    for (const code of Object.keys(ErrorCodes)) expect(DOC.includes(`\`${code}\``), code).toBe(true)
  })
})

describe('the documented answers are what the broker answers', () => {
  const check = (schema: TSchema, reply: { status: number; body: unknown }, status: number) => {
    expect(reply.status, JSON.stringify(reply.body)).toBe(status)
    expect(Value.Check(schema, reply.body), JSON.stringify(reply.body)).toBe(true)
  }

  it('topics, produce, fetch, groups, exchanges, cluster and an error', async () => {
    check(S.Status, await json('GET', '/healthz'), 200)
    check(S.ClusterDescription, await json('GET', '/v1/cluster'), 200)
    check(S.WhoAmI, await json('GET', '/v1/whoami'), 200)
    check(S.TopicDescription, await json('POST', '/v1/topics', { name: 'docs', partitions: 2 }), 201)
    check(S.TopicList, await json('GET', '/v1/topics'), 200)
    const produced = await json('POST', '/v1/topics/docs/partitions/0/records', {
      records: [{ key: 'k', value: { $base64: 'AQID' }, headers: { h: 'v' } }],
    })
    check(S.ProduceResult, produced, 200)
    expect(produced.body).toEqual({ offsets: [{ partition: 0, offset: 0 }], durability: 'fsynced' })
    check(S.FetchResult, await json('GET', '/v1/topics/docs/partitions/0/records?offset=0'), 200)
    check(S.OffsetResult, await json('GET', '/v1/topics/docs/partitions/0/offsets?at=earliest'), 200)
    const joined = await json('POST', '/v1/groups/g/members', { topics: ['docs'] })
    check(S.JoinResult, joined, 200)
    const member = (joined.body as { memberId: string }).memberId
    check(S.HeartbeatResult, await json('POST', `/v1/groups/g/members/${member}/heartbeat`), 200)
    check(S.GroupFetchResult, await json('GET', `/v1/groups/g/members/${member}/records`), 200)
    check(S.GroupOffsets, await json('GET', '/v1/groups/g/offsets'), 200)
    check(S.GroupDescription, await json('GET', '/v1/groups/g'), 200)
    check(S.GroupList, await json('GET', '/v1/groups'), 200)
    check(S.GroupConfigResult, await json('PUT', '/v1/groups/g/config', { maxDeliveries: 3 }), 200)
    check(S.ExchangeDescription, await json('POST', '/v1/exchanges', { name: 'x', type: 'fanout' }), 201)
    check(S.ExchangeDescription, await json('POST', '/v1/exchanges/x/bindings', { topic: 'docs' }), 201)
    check(
      S.PublishResult,
      await json('POST', '/v1/exchanges/x/records', { records: [{ routingKey: '', value: 1 }] }),
      200,
    )
    check(S.ExchangeList, await json('GET', '/v1/exchanges'), 200)
    check(S.ErrorEnvelope, await json('GET', '/v1/topics/nope'), 404)
    // Generating the document (in beforeAll) left the validation schemas as they were.
    const badName = await json('POST', '/v1/topics', { name: 'a/b' })
    check(S.ErrorEnvelope, badName, 400)
    expect((badName.body as { error: { code: string } }).error.code).toBe('INVALID_TOPIC_NAME')
  })
})
