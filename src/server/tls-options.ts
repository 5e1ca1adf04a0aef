/**
 * TLS for the client listener and for this broker's calls to other brokers.
 *
 * The listener gets its key, certificate chain and (with `--tls-client-auth`) the CA that client
 * certificates must chain to from PEM files. `request` asks every client for a certificate and lets
 * it in without one (a valid one names the principal, auth/tls-principal.ts); `require` refuses the
 * handshake of a client without a valid one.
 *
 * Certificates are short-lived in practice (ACME, a mesh's CA), so they are reloaded without a
 * restart: on SIGHUP and when one of the files changes. A reload builds a secure context from the
 * new files first and only then swaps it in with `setSecureContext`: new connections get the new
 * certificate, open ones keep theirs, and a bad or half-written set of files (the key replaced but
 * not yet the certificate) is logged and the old context kept. The files are polled
 * (`fs.watchFile`), not `fs.watch`ed: tools replace certificates by renaming a new file over the
 * old one, which ends an inotify watch on the old inode.
 *
 * Outbound (follower → leader) connections trust `--tls-ca-file` and present the broker's own
 * certificate when the peer asks for one, so mutual TLS works between brokers with one key pair.
 */

import { createHash, X509Certificate } from 'node:crypto'
import { readFileSync, unwatchFile, watchFile } from 'node:fs'
import type { ServerOptions as HttpsServerOptions } from 'node:https'
import { createSecureContext, type Server as TlsServer } from 'node:tls'
import type { BrokerConfig } from '../config/schema.js'
import { InvalidConfigError } from '../errors.js'

type TlsConfig = Pick<
  BrokerConfig,
  'tlsCertFile' | 'tlsKeyFile' | 'tlsCaFile' | 'tlsClientAuth' | 'tlsClientCaFile' | 'tlsWatchIntervalMs'
>

export function listenerTlsEnabled(config: TlsConfig): boolean {
  return config.tlsCertFile !== '' && config.tlsKeyFile !== ''
}

/** The files a reload reads: the listener's, and the CA its calls to other brokers trust. */
function reloadedFiles(config: TlsConfig): string[] {
  const files = [config.tlsCertFile, config.tlsKeyFile, clientCaFile(config), config.tlsCaFile]
  return [...new Set(files.filter((file) => file !== ''))]
}

/** A digest of the files' bytes, so that a SIGHUP and the poll seeing the same new files reload once. */
function filesFingerprint(files: readonly string[]): string {
  const hash = createHash('sha256')
  for (const file of files) hash.update(readFileSync(file)).update('\0')
  return hash.digest('hex')
}

function clientCaFile(config: TlsConfig): string {
  if (config.tlsClientAuth === 'none') return ''
  return config.tlsClientCaFile || config.tlsCaFile
}

/**
 * Reads the listener's PEM files into the options of an https server; throws if they are
 * unreadable or do not make a usable context (a key that does not match the certificate).
 */
export function readListenerTls(config: TlsConfig): HttpsServerOptions {
  const clientCa = clientCaFile(config)
  const options: HttpsServerOptions = {
    cert: readFileSync(config.tlsCertFile),
    key: readFileSync(config.tlsKeyFile),
    ...(clientCa !== '' && { ca: readFileSync(clientCa) }),
    requestCert: config.tlsClientAuth !== 'none',
    rejectUnauthorized: config.tlsClientAuth === 'require',
  }
  createSecureContext(options)
  return options
}

/** The listener's TLS options at start; an unusable file stops the start with a one-line reason. */
export function listenerTlsAtStart(config: TlsConfig): HttpsServerOptions | undefined {
  if (!listenerTlsEnabled(config)) return undefined
  try {
    return readListenerTls(config)
  } catch (err) {
    const files = reloadedFiles(config).join(', ')
    throw new InvalidConfigError(`TLS files (${files}) are unusable: ${(err as Error).message}`)
  }
}

/** Serial, subject and expiry of a PEM certificate (the first of a chain), for the log. */
export function describeCertificate(pem: Buffer | string): {
  serial: string
  subject: string
  validTo: string
} {
  const cert = new X509Certificate(pem)
  return { serial: cert.serialNumber, subject: cert.subject.replaceAll('\n', ', '), validTo: cert.validTo }
}

export interface TlsReloadLogger {
  info(details: object, message: string): void
  error(details: object, message: string): void
}

/**
 * Swaps the listener's certificate on SIGHUP and when its files change. `onReload` hears of every
 * successful reload (the replica client takes the new key pair for its own connections).
 */
export class TlsReloader {
  readonly #server: TlsServer
  readonly #config: TlsConfig
  readonly #log: TlsReloadLogger
  readonly #onReload: (config: TlsConfig) => void
  readonly #onSignal = () => this.reload('SIGHUP')
  readonly #onFileChange = (file: string) => () => this.reload(`${file} changed`, { unlessSame: true })
  readonly #watched = new Map<string, () => void>()
  /** Fingerprint of the files in use. */
  #current = ''

  constructor(
    server: TlsServer,
    config: TlsConfig,
    log: TlsReloadLogger,
    onReload: (config: TlsConfig) => void = () => {},
  ) {
    this.#server = server
    this.#config = config
    this.#log = log
    this.#onReload = onReload
  }

  start(): void {
    this.#current = filesFingerprint(reloadedFiles(this.#config))
    process.on('SIGHUP', this.#onSignal)
    if (this.#config.tlsWatchIntervalMs === 0) return
    for (const file of reloadedFiles(this.#config)) {
      if (this.#watched.has(file)) continue
      const listener = this.#onFileChange(file)
      this.#watched.set(file, listener)
      watchFile(file, { interval: this.#config.tlsWatchIntervalMs, persistent: false }, listener)
    }
  }

  /**
   * Loads the files again; true when the new certificate is in use (or, with `unlessSame`, the
   * files hold what is already in use), false when the old one stays.
   */
  reload(reason: string, opts: { unlessSame?: boolean } = {}): boolean {
    const files = reloadedFiles(this.#config)
    let options: HttpsServerOptions
    try {
      const loaded = filesFingerprint(files)
      if (opts.unlessSame && loaded === this.#current) return true
      options = readListenerTls(this.#config)
      this.#current = loaded
    } catch (err) {
      this.#log.error({ err, reason, files }, 'TLS reload failed: keeping the current certificate')
      return false
    }
    this.#server.setSecureContext(options)
    this.#log.info(
      { reason, certificate: describeCertificate(options.cert as Buffer) },
      'TLS certificate reloaded: new connections use it',
    )
    this.#onReload(this.#config)
    return true
  }

  stop(): void {
    process.off('SIGHUP', this.#onSignal)
    for (const [file, listener] of this.#watched) unwatchFile(file, listener)
    this.#watched.clear()
  }
}
