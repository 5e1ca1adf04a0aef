/**
 * Test certificates made with the openssl CLI: a CA, and leaf certificates it signs for
 * 127.0.0.1/localhost, usable both as server and as client certificates (EKU serverAuth and
 * clientAuth). Each leaf gets the serial a test asks for, so a test can tell which certificate a
 * server presented. Files go to a temp directory the test removes.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'

export interface CertFiles {
  certFile: string
  keyFile: string
  cert: Buffer
  key: Buffer
}

export interface TestCa extends CertFiles {
  dir: string
  /** Signs a certificate for `cn` with this serial (hex, as node's X509Certificate prints it). */
  issue(name: string, opts: { cn: string; serial: string }): CertFiles
  remove(): void
}

/** `openssl req` arguments for a new P-256 key without a passphrase. */
const NEW_P256_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

function files(certFile: string, keyFile: string): CertFiles {
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) }
}

export function makeCa(cn = 'Strata Test CA', dir = mkdtempSync(join(tmpdir(), 'strata-tls-'))): TestCa {
  const certFile = join(dir, 'ca.crt')
  const keyFile = join(dir, 'ca.key')
  openssl([
    'req',
    '-x509',
    ...NEW_P256_KEY,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
  const extFile = join(dir, 'leaf.ext')
  writeFileSync(
    extFile,
    [
      'basicConstraints=CA:FALSE',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'extendedKeyUsage=serverAuth,clientAuth',
      '',
    ].join('\n'),
  )
  return {
    dir,
    ...files(certFile, keyFile),
    issue(name, opts) {
      const leafCert = join(dir, `${name}.crt`)
      const leafKey = join(dir, `${name}.key`)
      const csr = join(dir, `${name}.csr`)
      openssl(['req', '-new', ...NEW_P256_KEY, '-keyout', leafKey, '-out', csr, '-subj', `/CN=${opts.cn}`])
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        certFile,
        '-CAkey',
        keyFile,
        '-set_serial',
        `0x${opts.serial}`,
        '-days',
        '2',
        '-extfile',
        extFile,
        '-out',
        leafCert,
      ])
      return files(leafCert, leafKey)
    },
    remove() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface PeerAnswer {
  /** Serial of the certificate the server presented (upper-case hex). */
  serial: string
  /** The status line of `GET /healthz` on that connection. */
  statusLine: string
}

/**
 * Opens a fresh TLS connection to `url` (trusting `ca`, presenting `client` if given), asks
 * `GET /healthz` on it and returns which certificate the server presented. Rejects with the
 * handshake's error (a refused client certificate, an untrusted server).
 */
export function askOverTls(url: string, ca: Buffer, client?: CertFiles): Promise<PeerAnswer> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: hostname,
      port: Number(port),
      ca,
      ...(client && { cert: client.cert, key: client.key }),
    })
    const serial = { value: '' }
    let response = ''
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')))
    socket.once('secureConnect', () => {
      serial.value = socket.getPeerCertificate().serialNumber
      socket.write(`GET /healthz HTTP/1.1\r\nhost: ${hostname}\r\nconnection: close\r\n\r\n`)
    })
    socket.on('data', (d: Buffer) => {
      response += d.toString()
    })
    socket.once('error', reject)
    socket.once('close', () => {
      const statusLine = response.split('\r\n')[0] ?? ''
      if (statusLine === '') reject(new Error('connection closed without an answer'))
      else resolve({ serial: serial.value, statusLine })
    })
  })
}

/** A TLS connection kept open, to show that a reload leaves existing connections alone. */
export async function openTls(
  url: string,
  ca: Buffer,
): Promise<{ serial: string; get(path: string): Promise<string>; close(): void }> {
  const { hostname, port } = new URL(url)
  const socket = tls.connect({ host: hostname, port: Number(port), ca })
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve)
    socket.once('error', reject)
  })
  return {
    serial: socket.getPeerCertificate().serialNumber,
    get(path) {
      return new Promise((resolve, reject) => {
        let response = ''
        const onData = (d: Buffer) => {
          response += d.toString()
          // A keep-alive answer: the status line and headers are enough.
          if (response.includes('\r\n\r\n')) {
            socket.off('data', onData)
            resolve(response.split('\r\n')[0] ?? '')
          }
        }
        socket.on('data', onData)
        socket.once('error', reject)
        socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`)
      })
    },
    close: () => socket.destroy(),
  }
}
