/**
 * The CLI's TLS options for `https://` brokers: `--ca-file`, `--cert-file`, `--key-file` (PEM), or
 * `STRATA_CA_FILE`, `STRATA_CERT_FILE`, `STRATA_KEY_FILE`; a flag beats the environment. A file
 * that cannot be read is a usage error, reported before any connection is tried.
 */
import { readFileSync } from 'node:fs'
import type { ClientTlsOptions } from '../client/transport.js'
import type { OptionSpec } from './args.js'
import { type CliIo, UsageError } from './context.js'

export const TLS_OPTIONS: Record<string, OptionSpec> = {
  'ca-file': {
    type: 'string',
    value: 'PEM',
    description:
      'CA certificate(s) to trust for https:// brokers (default $STRATA_CA_FILE, else the system CAs)',
  },
  'cert-file': {
    type: 'string',
    value: 'PEM',
    description: 'client certificate for brokers that ask for one (default $STRATA_CERT_FILE)',
  },
  'key-file': {
    type: 'string',
    value: 'PEM',
    description: 'private key of --cert-file (default $STRATA_KEY_FILE)',
  },
}

const ENV_OF = {
  'ca-file': 'STRATA_CA_FILE',
  'cert-file': 'STRATA_CERT_FILE',
  'key-file': 'STRATA_KEY_FILE',
} as const

/** The client's TLS options from flags and environment; undefined when none is given. */
export function cliTls(values: Record<string, unknown>, env: CliIo['env']): ClientTlsOptions | undefined {
  const read = (flag: keyof typeof ENV_OF): Buffer | undefined => {
    const given = values[flag]
    const path = typeof given === 'string' ? given : env[ENV_OF[flag]]
    if (path === undefined || path === '') return undefined
    try {
      return readFileSync(path)
    } catch (err) {
      throw new UsageError(
        `--${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      )
    }
  }
  const ca = read('ca-file')
  const cert = read('cert-file')
  const key = read('key-file')
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('--cert-file and --key-file go together (a certificate needs its private key)')
  }
  if (ca === undefined && cert === undefined) return undefined
  return { ...(ca && { ca }), ...(cert && key && { cert, key }) }
}
