/**
 * Content negotiation: MessagePack or JSON in, MessagePack or JSON out (docs/http-api.md,
 * "Content negotiation").
 *
 * Requests: `application/vnd.msgpack` (also `application/msgpack`, `application/x-msgpack`) is
 * decoded with the untrusted-input unpackr; JSON as fastify does, then `{"$base64": …}` in record
 * keys, values and headers becomes bytes (done by the produce route, which knows where records are).
 * Responses use the type `Accept` asks for, else the request's, else JSON. A route answers with
 * `reply.sendData(value)`; a body that is already MessagePack bytes (a fetch) goes through
 * `renderMsgpackBytes`, which keeps them untouched for a MessagePack reader and decodes them once
 * for a JSON one (the fetch routes send it, holding its size in the fetch budget).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { InvalidRequestError } from '../../errors.js'
import { toJsonValue, wirePackr, wireUnpackr } from '../../wire/record-codec.js'
import { checkMsgpackBody } from '../msgpack-check.js'

export const MSGPACK = 'application/vnd.msgpack'
const MSGPACK_TYPES = ['application/vnd.msgpack', 'application/msgpack', 'application/x-msgpack']
const JSON_TYPE = 'application/json; charset=utf-8'

declare module 'fastify' {
  interface FastifyReply {
    sendData(value: unknown): FastifyReply
  }
  interface FastifyRequest {
    wantsMsgpack: boolean
  }
}

function isMsgpack(type: string | undefined): boolean {
  if (!type) return false
  const t = type.toLowerCase()
  return MSGPACK_TYPES.some((m) => t.includes(m))
}

/** Accept wins when it names one of our types; then the request's type; then JSON. */
export function prefersMsgpack(request: FastifyRequest): boolean {
  const accept = request.headers.accept
  if (accept && isMsgpack(accept)) return true
  if (accept?.toLowerCase().includes('application/json')) return false
  return isMsgpack(request.headers['content-type'])
}

export function encodeBody(msgpack: boolean, value: unknown): { type: string; body: Buffer | string } {
  if (msgpack) return { type: MSGPACK, body: wirePackr.pack(value) }
  return { type: JSON_TYPE, body: JSON.stringify(toJsonValue(value)) }
}

/** A body that is already MessagePack bytes, as sent: untouched, or decoded once into JSON. */
export function renderMsgpackBytes(msgpack: boolean, bytes: Buffer): { type: string; body: Buffer | string } {
  if (msgpack) return { type: MSGPACK, body: bytes }
  return { type: JSON_TYPE, body: JSON.stringify(toJsonValue(wireUnpackr.unpack(bytes))) }
}

/** Checks the bytes first (msgpack-check.ts: nothing costly, nothing altered), then decodes. */
export function decodeMsgpack(body: Buffer): unknown {
  checkMsgpackBody(body)
  try {
    return wireUnpackr.unpack(body)
  } catch (err) {
    const reason = err instanceof RangeError ? 'nesting too deep' : (err as Error).message
    throw new InvalidRequestError(`body is not valid MessagePack: ${reason}`, { reason })
  }
}

export const msgpackCodec = fp(
  async (app: FastifyInstance) => {
    // Bodies are MessagePack or JSON only (docs/http-api.md, "Content negotiation"); fastify's
    // text/plain parser would let a plain string through to schema validation and answer 400 where
    // 415 is the truth.
    app.removeContentTypeParser('text/plain')
    app.addContentTypeParser(MSGPACK_TYPES, { parseAs: 'buffer' }, (_req, body, done) => {
      try {
        done(null, body.length === 0 ? undefined : decodeMsgpack(body as Buffer))
      } catch (err) {
        done(err as Error, undefined)
      }
    })
    app.decorateRequest('wantsMsgpack', false)
    app.addHook('onRequest', (request, _reply, done) => {
      request.wantsMsgpack = prefersMsgpack(request)
      done()
    })
    app.decorateReply('sendData', function (this: FastifyReply, value: unknown) {
      const { type, body } = encodeBody(this.request.wantsMsgpack, value)
      return this.type(type).send(body)
    })
  },
  { name: 'strata-msgpack-codec' },
)
