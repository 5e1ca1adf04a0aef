/**
 * The TLS options' rules that no single option's schema can say: a certificate needs its key, client
 * certificates need a listener that speaks TLS and a CA to check them against, and a TLS broker
 * must not advertise a plain `http://` URL (its peers and clients would be refused).
 */

export function tlsConfigProblems(candidate: Record<string, unknown>): string[] {
  const text = (key: string) => (typeof candidate[key] === 'string' ? (candidate[key] as string) : '')
  const problems: string[] = []
  const cert = text('tlsCertFile')
  const key = text('tlsKeyFile')
  if ((cert === '') !== (key === '')) {
    problems.push('--tls-cert-file and --tls-key-file go together (a certificate needs its private key)')
  }
  const clientAuth = text('tlsClientAuth')
  if (clientAuth === 'request' || clientAuth === 'require') {
    if (cert === '') problems.push(`--tls-client-auth ${clientAuth} needs --tls-cert-file and --tls-key-file`)
    if (text('tlsClientCaFile') === '' && text('tlsCaFile') === '') {
      problems.push(
        `--tls-client-auth ${clientAuth} needs --tls-client-ca-file (or --tls-ca-file) to check certificates against`,
      )
    }
  }
  if (text('tlsClientCaFile') !== '' && clientAuth !== 'request' && clientAuth !== 'require') {
    problems.push(
      '--tls-client-ca-file needs --tls-client-auth request or require (no client certificate is asked for)',
    )
  }
  if (cert !== '' && text('advertiseUrl').startsWith('http://')) {
    problems.push('--advertise-url must be an https:// URL when the listener speaks TLS')
  }
  return problems
}
