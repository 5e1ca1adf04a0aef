/**
 * Users, API tokens and ACLs over HTTP (who may call which is in src/auth/route-permissions.ts):
 *
 * - `GET /v1/whoami` → `{name, superuser}`
 * - `GET|POST /v1/users`, `GET|PUT|DELETE /v1/users/:user` (`{password?, superuser?}`)
 * - `POST /v1/users/:user/tokens` `{label?}` → 201 `{id, label, createdAt, token}`: the only time
 *   the token is ever shown; `DELETE /v1/users/:user/tokens/:token` revokes it (by id)
 * - `GET|POST /v1/acls`, `DELETE /v1/acls/:acl`
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { Operations, PatternTypes, ResourceTypes } from '../../auth/acl.js'
import { type AuthStore, USER_NAME_PATTERN } from '../../auth/auth-store.js'

const UserName = Type.String({ pattern: USER_NAME_PATTERN })
// Long enough to resist guessing; the upper bound keeps a request from buying a huge scrypt input.
const Password = Type.String({ minLength: 8, maxLength: 1024 })
const UserParams = Type.Object({ user: UserName })
const TokenParams = Type.Object({ user: UserName, token: Type.String({ pattern: '^[0-9a-f]{12}$' }) })
const AclParams = Type.Object({ acl: Type.String({ pattern: '^[0-9a-f]{12}$' }) })

const CreateUserBody = Type.Object(
  { name: UserName, password: Type.Optional(Password), superuser: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
)
const UpdateUserBody = Type.Object(
  { password: Type.Optional(Password), superuser: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
)
const CreateTokenBody = Type.Object(
  { label: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
)
const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)))
const AclBody = Type.Object(
  {
    principal: Type.Union([UserName, Type.Literal('*')]),
    operation: literals(Operations),
    resourceType: literals(ResourceTypes),
    patternType: Type.Optional(literals(PatternTypes)),
    name: Type.String({ minLength: 1, maxLength: 249 }),
  },
  { additionalProperties: false },
)

export async function securityRoutes(app: FastifyInstance, opts: { store: AuthStore }) {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { store } = opts

  r.get('/v1/whoami', async (req, reply) =>
    reply.sendData(req.principal ?? { name: 'anonymous', superuser: true, authentication: 'off' }),
  )

  r.get('/v1/users', async (_req, reply) => reply.sendData({ users: store.describeUsers() }))
  r.post('/v1/users', { schema: { body: CreateUserBody } }, async (req, reply) =>
    reply.code(201).sendData(await store.createUser(req.body)),
  )
  r.get('/v1/users/:user', { schema: { params: UserParams } }, async (req, reply) =>
    reply.sendData(store.describeUser(req.params.user)),
  )
  r.put('/v1/users/:user', { schema: { params: UserParams, body: UpdateUserBody } }, async (req, reply) =>
    reply.sendData(await store.updateUser(req.params.user, req.body)),
  )
  r.delete('/v1/users/:user', { schema: { params: UserParams } }, async (req, reply) => {
    await store.deleteUser(req.params.user)
    return reply.code(204).send()
  })

  r.post(
    '/v1/users/:user/tokens',
    { schema: { params: UserParams, body: Type.Optional(CreateTokenBody) } },
    async (req, reply) =>
      reply.code(201).sendData(await store.createToken(req.params.user, req.body?.label ?? '')),
  )
  r.delete('/v1/users/:user/tokens/:token', { schema: { params: TokenParams } }, async (req, reply) => {
    await store.revokeToken(req.params.user, req.params.token)
    return reply.code(204).send()
  })

  r.get('/v1/acls', async (_req, reply) => reply.sendData({ acls: store.acls }))
  r.post('/v1/acls', { schema: { body: AclBody } }, async (req, reply) =>
    reply.code(201).sendData(await store.addAcl({ patternType: 'literal', ...req.body })),
  )
  r.delete('/v1/acls/:acl', { schema: { params: AclParams } }, async (req, reply) => {
    await store.removeAcl(req.params.acl)
    return reply.code(204).send()
  })
}
