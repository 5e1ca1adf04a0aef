/**
 * The `strata` command's entry point: `serve` starts a broker; every other command is the CLI
 * (src/cli/main.ts), which talks to brokers through the client library.
 */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  let code: number
  // Each side is imported only when used: a CLI command should not load the whole broker.
  if (command === undefined || command === 'serve') {
    const { serve } = await import('./cli/commands/serve.js')
    code = await serve(command === undefined ? [] : rest)
  } else {
    const { runCli } = await import('./cli/main.js')
    code = await runCli(argv)
  }
  process.exitCode = code
}

// Run when executed directly (`node dist/src/main.js serve`), not when imported by bin/strata.js.
if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`strata: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}
