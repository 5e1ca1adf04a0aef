// The image's HEALTHCHECK: exits 0 when the broker in this container answers GET /healthz with 200.
//
// /healthz (the process serves), not /readyz: /readyz is 503 during a memory or disk alarm and while
// etcd is unreachable, and a restart would make those worse (recovery starts over, leaderships move).
// It reads the same STRATA_* variables as the broker, so a port or TLS set there is followed here.
// Over TLS it does not verify the broker's certificate (it connects to itself over loopback, a name
// the certificate need not carry) but presents it as a client certificate, as brokers do to each
// other, so that `--tls-client-auth require` lets it in.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'

const env = process.env
const bound = env.STRATA_HOST ?? ''
const host = bound === '' || bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound
const options = { host, port: Number(env.STRATA_PORT || 8082), path: '/healthz', timeout: 2500 }
const certFile = env.STRATA_TLS_CERT_FILE ?? ''
const keyFile = env.STRATA_TLS_KEY_FILE ?? ''
const tls = certFile !== '' && keyFile !== ''
if (tls) {
  Object.assign(options, { rejectUnauthorized: false, cert: readFileSync(certFile), key: readFileSync(keyFile) })
}
const req = (tls ? https : http).get(options, (res) => {
  res.resume()
  process.exit(res.statusCode === 200 ? 0 : 1)
})
req.on('timeout', () => req.destroy(new Error('no answer in time')))
req.on('error', (err) => {
  process.stderr.write(`healthcheck: ${err.message}\n`)
  process.exit(1)
})
