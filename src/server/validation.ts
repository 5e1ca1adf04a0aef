/**
 * Schema validation at the edge: one ajv for bodies, another for the URL.
 *
 * Bodies are validated as sent, with no type coercion: with coercion JSON `null` became 0, so
 * `producerId: null, sequence: null` made every later batch look like a retry of the first (answered
 * with old offsets, never stored), `acks: null` became fire-and-forget and `"routingKey": 5` became
 * "5". A wrong type is 400 INVALID_REQUEST naming the field. Path parameters and query strings are
 * text by nature, so their ajv still parses numbers (`?offset=5`, `/partitions/0`).
 *
 * `verbose` keeps each error's schema, so the error handler can answer INVALID_TOPIC_NAME for a
 * schema marked `nameRule: 'topic'` (see `TopicName` in schemas/common.ts) wherever the name sits.
 */
import AjvCompiler from '@fastify/ajv-compiler'

const SHARED_AJV_OPTIONS: AjvCompiler.Options = {
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  verbose: true,
  keywords: ['nameRule'],
}

type CompilerFactory = ReturnType<typeof AjvCompiler>

/** Fastify's own ajv compiler, twice: strict for bodies, coercing for params and query strings. */
export const buildEdgeValidator: CompilerFactory = (externalSchemas) => {
  const factory = AjvCompiler()
  const strict = factory(externalSchemas, { customOptions: { ...SHARED_AJV_OPTIONS, coerceTypes: false } })
  const fromUrl = factory(externalSchemas, { customOptions: { ...SHARED_AJV_OPTIONS, coerceTypes: 'array' } })
  // At run time fastify calls the compiler with the route ({schema, httpPart, …}), not the bare
  // schema its typings name; both compilers read `.schema` from it.
  return ((route: { httpPart?: string }) =>
    (route.httpPart === 'body' ? strict : fromUrl)(route as never)) as ReturnType<CompilerFactory>
}
