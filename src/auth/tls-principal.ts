/**
 * The principal a client certificate names: the subject's common name (CN) of a certificate that
 * the listener verified against `--tls-client-ca-file`. Anything else — a plain TCP socket, a
 * client that sent no certificate, or one that sent a certificate the CA did not sign (which
 * `--tls-client-auth request` lets in) — names nobody, and the caller falls back to other
 * credentials.
 */
import type { Socket } from 'node:net'
import { TLSSocket } from 'node:tls'

export function principalFromCertificate(socket: Socket | undefined): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined
  const certificate = socket.getPeerCertificate()
  // A certificate may carry several CNs; Node then gives an array. The first one names the peer.
  const cn: unknown = certificate?.subject?.CN
  const name = Array.isArray(cn) ? cn[0] : cn
  return typeof name === 'string' && name !== '' ? name : undefined
}
