/**
 * The console in a real browser (Debian's chromium through playwright-core) against a real broker
 * process: create a topic, produce, browse, a group's lag and its reset, an exchange's publish,
 * the charts, the brokers list, the disk alarm banner; and the login form with --auth.
 * Screenshots go to test/artifacts/console/ (git-ignored) for a person to look at.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BrokerProcess, startBroker, tempDataDir } from '../../helpers/broker-process.js'
import { ADMIN_PASSWORD, startAuthBroker } from '../auth/auth-helpers.js'

const ARTIFACTS = join(import.meta.dirname, '../../artifacts/console')
const CHROMIUM = '/usr/bin/chromium'

let browser: Browser
let broker: BrokerProcess
let diskFreeFile: string

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  diskFreeFile = join(tempDataDir('strata-console-disk-'), 'free')
  writeFileSync(diskFreeFile, String(10 * 1024 ** 3))
  broker = await startBroker({
    args: ['--alarm-check-interval-ms', '100', '--disk-free-limit', String(1024 ** 2)],
    env: { STRATA_TEST_HOOKS: '1', STRATA_TEST_DISK_FREE_FILE: diskFreeFile },
  })
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await broker?.stop()
})

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
  // Every confirm() (delete, reset) is answered yes, as the operator would.
  page.on('dialog', (dialog) => void dialog.accept())
  page.setDefaultTimeout(20_000)
  return page
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${broker.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text ? JSON.parse(text) : undefined
}

describe('console in chromium', () => {
  it('create topic → produce → browse → group lag and reset → exchange publish, charts and brokers', async () => {
    const page = await newPage()
    await page.goto(`${broker.url}/console`)
    await page.locator('#health', { hasText: 'ready' }).waitFor()

    // Create a topic from the form.
    await page.click('nav button[data-tab="topics"]')
    await page.fill('#create-topic input[name="name"]', 'orders')
    await page.fill('#create-topic input[name="partitions"]', '1')
    await page.click('#create-topic button')
    await page.locator('#topic-msg', { hasText: 'Created orders.' }).waitFor()
    await page.locator('#topic-list td', { hasText: 'orders' }).first().waitFor()

    // Produce three records, one with a header; each confirmation names its offset.
    await page.selectOption('#produce select[name="topic"]', 'orders')
    for (let i = 0; i < 3; i++) {
      await page.fill('#produce input[name="key"]', `order-${i}`)
      await page.fill(
        '#produce textarea[name="value"]',
        JSON.stringify({ id: i, item: 'widget', qty: i + 1 }),
      )
      await page.fill('#produce input[name="headers"]', i === 0 ? '{"source":"console"}' : '')
      await page.click('#produce button')
      await page.locator('#produce-msg', { hasText: `partition 0, offset ${i}` }).waitFor()
    }
    await shot(page, '1-topics')
    // "Browse" on the topic's row opens its newest records.
    await page.locator('#topic-list button[data-browse="orders"]').click()
    await page.locator('#browse-msg', { hasText: 'Offsets 0…2' }).waitFor()
    expect(await page.locator('#messages').isVisible()).toBe(true)

    // Browse from offset 1: two records, decoded.
    await page.click('nav button[data-tab="messages"]')
    await page.selectOption('#browse select[name="topic"]', 'orders')
    await page.selectOption('#browse select[name="from"]', 'offset')
    await page.fill('#browse input[name="offset"]', '1')
    await page.click('#browse button.primary')
    await page.locator('#browse-msg', { hasText: 'next offset 3' }).waitFor()
    // The message read the same after the newest-records browse above: wait for the table itself.
    const rows = page.locator('#records tr')
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2)
    expect(await rows.nth(0).locator('td').first().textContent()).toBe('1')
    expect(await rows.nth(0).textContent()).toContain('"qty": 2')
    // From the earliest offset, the header of record 0 shows too.
    await page.selectOption('#browse select[name="from"]', 'earliest')
    await page.click('#browse button.primary')
    await page.locator('#browse-msg', { hasText: 'Offsets 0…2' }).waitFor()
    expect(await page.locator('#records tr').count()).toBe(3)
    expect(await page.locator('#records tr').first().textContent()).toContain('source: console')
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')])
    expect(download.suggestedFilename()).toBe('orders-0-0.json')
    await shot(page, '2-messages')
    // From a time before every record: the first offset.
    await page.selectOption('#browse select[name="from"]', 'time')
    await page.fill('#browse input[name="time"]', '2001-02-03T04:05:06')
    await page.fill('#browse input[name="maxRecords"]', '1')
    await page.click('#browse button.primary')
    await page.locator('#browse-msg', { hasText: 'Offsets 0…0' }).waitFor()
    expect(await page.locator('#records tr').count()).toBe(1)

    // Byte values: JSON in bytes is pretty-printed, other UTF-8 shown as text, the rest as hex.
    await api('POST', '/v1/topics', { name: 'blobs', partitions: 1 })
    const b64 = (b: Buffer) => ({ $base64: b.toString('base64') })
    await api('POST', '/v1/topics/blobs/records', {
      records: [
        { value: b64(Buffer.from('{"nested":{"ok":true}}')) },
        { value: b64(Buffer.from('plain text')) },
        { value: b64(Buffer.from([0xff, 0x00, 0x41, 0x42])) },
      ],
    })
    await page.locator('#browse select[name="topic"] option[value="blobs"]').waitFor({ state: 'attached' })
    await page.selectOption('#browse select[name="topic"]', 'blobs')
    await page.selectOption('#browse select[name="from"]', 'earliest')
    await page.fill('#browse input[name="maxRecords"]', '10')
    await page.click('#browse button.primary')
    await page.locator('#browse-msg', { hasText: 'Offsets 0…2' }).waitFor()
    const values = await page.locator('#records tr td:nth-child(4)').allTextContents()
    expect(values[0]).toContain('json bytes')
    expect(values[0]).toContain('"ok": true')
    expect(values[1]).toContain('utf-8 bytes')
    expect(values[1]).toContain('plain text')
    expect(values[2]).toContain('bytes 4')
    expect(values[2]).toContain('0000  ff 00 41 42')
    await shot(page, '2b-bytes')

    // A group without members that committed offset 1: lag 2, then reset to latest from the UI.
    await api('POST', '/v1/groups/billing/offsets', {
      offsets: [{ topic: 'orders', partition: 0, offset: 1 }],
    })
    await page.click('nav button[data-tab="groups"]')
    await page.locator('#group-list tr[data-group="billing"]').click()
    const offsetRow = page.locator('#group-offsets tr').first()
    await offsetRow.locator('td', { hasText: '2' }).last().waitFor()
    expect((await offsetRow.locator('td').allTextContents()).map((t) => t.trim())).toEqual([
      'orders',
      '0',
      '1',
      '3',
      '2',
    ])
    await shot(page, '3-group-lag')
    await page.selectOption('#reset-form select[name="to"]', 'latest')
    await page.click('#reset-form button')
    await page.locator('#reset-msg', { hasText: 'Reset 1 partition(s): 0→3.' }).waitFor()
    expect((await api('GET', '/v1/groups/billing/offsets')).offsets).toEqual([
      { topic: 'orders', partition: 0, committed: 3, logEndOffset: 3, lag: 0 },
    ])
    // A member joins: the open group shows it with its assignment on the next refresh, and a
    // group with members cannot be reset.
    const { memberId } = await api('POST', '/v1/groups/billing/members', { topics: ['orders'] })
    await page.locator('#group-detail td code', { hasText: memberId }).waitFor()
    expect(await page.locator('#group-detail tr', { hasText: memberId }).textContent()).toContain('orders/0')
    expect(await page.locator('#reset-form button').isDisabled()).toBe(true)
    await shot(page, '3b-group-member')

    // An exchange made from the forms, and a test record that routes to the bound topic.
    await page.click('nav button[data-tab="exchanges"]')
    await page.fill('#create-exchange input[name="name"]', 'events')
    await page.selectOption('#create-exchange select[name="type"]', 'topic')
    await page.click('#create-exchange button')
    await page.locator('#exchange-msg', { hasText: 'Created exchange events.' }).waitFor()
    await page.locator('#bind select[name="exchange"] option[value="events"]').waitFor({ state: 'attached' })
    await page.selectOption('#bind select[name="exchange"]', 'events')
    await page.selectOption('#bind select[name="topic"]', 'orders')
    await page.fill('#bind input[name="bindingKey"]', 'orders.*')
    await page.click('#bind button')
    await page.locator('#exchange-list code', { hasText: 'orders.*' }).waitFor()
    await page.selectOption('#publish select[name="exchange"]', 'events')
    await page.fill('#publish input[name="routingKey"]', 'orders.created')
    await page.click('#publish button')
    await page.locator('#publish-msg', { hasText: 'Routed to orders (partition 0, offset 3).' }).waitFor()
    await page.fill('#publish input[name="routingKey"]', 'payments.failed')
    await page.click('#publish button')
    await page.locator('#publish-msg', { hasText: 'Unroutable' }).waitFor()
    await page.locator('#exchange-list td.num', { hasText: '1' }).nth(1).waitFor()
    await shot(page, '4-exchanges')

    // Brokers: this one alive and the controller, leading the topic's partition.
    await page.click('nav button[data-tab="brokers"]')
    const brokerRow = page.locator('#broker-list tr').first()
    expect(await brokerRow.textContent()).toContain('alive')
    expect(await brokerRow.textContent()).toContain('controller')
    await page.locator('#partitions tr', { hasText: 'orders' }).first().waitFor()
    await shot(page, '5-brokers')

    // Charts: once the ring has two samples since the produce, the overview draws canvases.
    await page.click('nav button[data-tab="overview"]')
    await page.locator('#chart-produce canvas').waitFor({ timeout: 30_000 })
    await page.locator('#chart-lag canvas').waitFor({ timeout: 30_000 })
    expect(await page.locator('#chart-produce .u-legend').textContent()).toContain('orders')
    await page.click('#range button[data-min="5"]')
    await page.locator('#range button.active', { hasText: '5 min' }).waitFor()
    await shot(page, '6-overview')

    // The disk alarm shows at the top of every tab.
    writeFileSync(diskFreeFile, '1000')
    await page.locator('#alarms.on', { hasText: 'disk alarm' }).waitFor({ timeout: 15_000 })
    await shot(page, '7-alarm')
    writeFileSync(diskFreeFile, String(10 * 1024 ** 3))
    await page.locator('#alarms:not(.on)').waitFor({ state: 'attached', timeout: 15_000 })
    await page.close()
  }, 150_000)
})

describe('console login in chromium (--auth)', () => {
  let authBroker: BrokerProcess
  beforeAll(async () => {
    authBroker = await startAuthBroker()
  }, 60_000)
  afterAll(async () => {
    await authBroker?.stop()
  })

  it('shows the login form, refuses a wrong password, logs in and creates a topic with the CSRF header', async () => {
    const page = await newPage()
    await page.goto(`${authBroker.url}/console`)
    await page.locator('#login-form').waitFor()
    expect(await page.locator('nav').isHidden()).toBe(true)
    await page.fill('#login-form input[name="username"]', 'admin')
    await page.fill('#login-form input[name="password"]', 'wrong-password')
    await page.click('#login-form button')
    await page.locator('#login-msg.err').waitFor()
    await shot(page, '8-login')
    await page.fill('#login-form input[name="username"]', 'admin')
    await page.fill('#login-form input[name="password"]', ADMIN_PASSWORD)
    await page.click('#login-form button')
    await page.locator('#who-name', { hasText: 'admin (superuser)' }).waitFor()
    await page.click('nav button[data-tab="topics"]')
    await page.fill('#create-topic input[name="name"]', 'audited')
    await page.click('#create-topic button')
    await page.locator('#topic-msg', { hasText: 'Created audited.' }).waitFor()
    await page.click('#logout')
    await page.locator('#login-form').waitFor()
    // After logout the session cookie is gone: the API refuses the page.
    const status = await page.evaluate(
      async () => (await fetch('/v1/topics', { headers: { 'x-requested-with': 'strata-console' } })).status,
    )
    expect(status).toBe(401)
    await page.close()
  }, 90_000)
})
