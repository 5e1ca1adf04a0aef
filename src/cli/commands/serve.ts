/**
 * `strata serve`: starts a broker with the options of config/schema.ts and prints
 * `strata listening on http://HOST:PORT` (https with --tls-cert-file) once it serves (tests and scripts
 * wait for that line).
 */
import { loadConfig, serveHelp } from '../../config/load-config.js'
import { StrataError } from '../../errors.js'
import { startBroker } from '../../server/start-broker.js'
import { DataDirLockedError } from '../../storage/data-dir-lock.js'

export async function serve(argv: string[]): Promise<number> {
  let loaded: ReturnType<typeof loadConfig>
  try {
    loaded = loadConfig(argv)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 2
  }
  if (loaded.help) {
    process.stdout.write(`${serveHelp()}\n`)
    return 0
  }
  const running = await startBroker(loaded.config).catch((err: unknown) => {
    const message =
      err instanceof StrataError || err instanceof DataDirLockedError ? err.message : (err as Error).stack
    process.stderr.write(`strata: could not start: ${message}\n`)
    return undefined
  })
  if (!running) return 1
  process.stdout.write(`strata listening on ${running.url}\n`)
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      running.app.log.info({ signal }, 'shutting down: flushing partitions')
      // The backstop: a shutdown must end even if something it waits for never answers. Unref'd,
      // so a clean close exits at once; it fires only while something still holds the process.
      setTimeout(() => {
        const pending = running.closingStep() ?? 'close finished; the process is held by the resources listed'
        const resources = process.getActiveResourcesInfo().join(', ')
        process.stderr.write(
          `strata: shutdown did not finish in ${loaded.config.shutdownTimeoutMs} ms (waiting for: ${pending}; active: ${resources}); exiting\n`,
        )
        process.exit(1)
      }, loaded.config.shutdownTimeoutMs).unref()
      running.close().then(resolve, (err: unknown) => {
        process.stderr.write(`strata: shutdown failed: ${(err as Error).message}\n`)
        resolve()
      })
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  return 0
}
