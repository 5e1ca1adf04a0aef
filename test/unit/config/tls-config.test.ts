import { describe, expect, test } from 'vitest'
import { loadConfig } from '../../../src/config/load-config.js'

function problems(argv: string[]): string[] {
  try {
    loadConfig(argv, {})
    return []
  } catch (err) {
    return (err as { details: { problems: string[] } }).details.problems
  }
}

describe('TLS options', () => {
  test('a certificate without its key (and the reverse) is refused', () => {
    expect(problems(['--tls-cert-file', 'c.pem'])).toEqual([
      '--tls-cert-file and --tls-key-file go together (a certificate needs its private key)',
    ])
    expect(problems(['--tls-key-file', 'k.pem'])).toHaveLength(1)
  })

  test('client certificates need a TLS listener and a CA; the mode is one of three words', () => {
    expect(problems(['--tls-client-auth', 'require'])).toEqual([
      '--tls-client-auth require needs --tls-cert-file and --tls-key-file',
      '--tls-client-auth require needs --tls-client-ca-file (or --tls-ca-file) to check certificates against',
    ])
    expect(
      problems([
        '--tls-cert-file',
        'c',
        '--tls-key-file',
        'k',
        '--tls-client-auth',
        'request',
        '--tls-ca-file',
        'ca',
      ]),
    ).toEqual([])
    expect(problems(['--tls-cert-file', 'c', '--tls-key-file', 'k', '--tls-client-ca-file', 'ca'])).toEqual([
      '--tls-client-ca-file needs --tls-client-auth request or require (no client certificate is asked for)',
    ])
    expect(problems(['--tls-client-auth', 'always'])).toEqual([
      expect.stringMatching(
        /^--tls-client-auth: invalid value "always" \(Client certificates: none \| request/,
      ),
    ])
  })

  test('a TLS broker must advertise https', () => {
    expect(
      problems(['--tls-cert-file', 'c', '--tls-key-file', 'k', '--advertise-url', 'http://10.0.0.1:8082']),
    ).toEqual(['--advertise-url must be an https:// URL when the listener speaks TLS'])
  })
})
