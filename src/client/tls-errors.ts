/**
 * A TLS handshake that failed: the broker's certificate is not trusted (no `tls.ca` for a private
 * CA, an expired certificate, a name that does not match the URL), or the broker refused this
 * client's certificate. Retrying cannot fix either, and the client cannot tell whether another
 * broker would do better (they normally share a CA), so the error is not retriable; it keeps
 * node's code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`, …)
 * and names the broker in its message.
 */

/** node:tls's certificate verification codes (OpenSSL's X509 errors) a client meets in practice. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
])

export class TlsHandshakeError extends Error {
  readonly code: string
  readonly retriable = false
  readonly url: string

  constructor(url: string, code: string, reason: string, options?: { cause?: unknown }) {
    super(`TLS handshake with ${url} failed: ${reason} (${code})`, options)
    this.name = 'TlsHandshakeError'
    this.code = code
    this.url = url
  }
}

/** Whether a socket error code is a TLS verification or handshake failure. */
export function isTlsFailureCode(code: string): boolean {
  return CERTIFICATE_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')
}
