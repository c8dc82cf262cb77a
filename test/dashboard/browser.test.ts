// The dashboard in a real headless browser (Debian's chromium, driven by playwright-core): a group
// of 3 with metrics, the page shows the real master, shows the new one within seconds after the
// master is killed, moves the master role from the page, and finds a message by id and by key.
// RAFTMQ_SCREENSHOT_DIR=docs/dashboard keeps screenshots of the main views.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { chromium, type Browser, type Page } from 'playwright-core';
import { LocalCluster } from '../../src/cli/index.ts';
import { Admin, Producer } from '../../src/client/index.ts';
import { ClusterWatcher, serveDashboard, type DashboardServer } from '../../src/dashboard/index.ts';

const CHROMIUM = process.env.RAFTMQ_CHROMIUM ?? '/usr/bin/chromium';
/** How soon the page must show a new master after the old one is killed. */
const FAILOVER_SHOWN_MS_MAX = 5000;
const POLL_MS = 250;
const SCREENSHOTS = process.env.RAFTMQ_SCREENSHOT_DIR;

async function shot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS === undefined) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The master the page shows. */
const shownMaster = (page: Page): Promise<string | null> => page.textContent('[data-testid=master]');

/** Waits until the page shows `want(master)`; returns how long it took. */
async function waitForShownMaster(page: Page, want: (id: string) => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const id = await shownMaster(page).catch(() => null);
    if (id !== null && want(id)) return Date.now() - t0;
    await page.waitForTimeout(50);
  }
  throw new Error(`the page still shows master ${await shownMaster(page)} after ${timeoutMs} ms`);
}

const NAME = 'the dashboard shows the real master, follows a failover, transfers leadership and finds messages';
if (!fs.existsSync(CHROMIUM)) {
  t.test(NAME, { skip: `no chromium at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it)` }, async () => {});
} else {
  t.test(NAME, async (t) => {
    const started = Date.now();
    const cluster = await LocalCluster.create({ nodes: 3, metrics: true });
    let watcher: ClusterWatcher | null = null;
    let server: DashboardServer | null = null;
    let browser: Browser | null = null;
    const producer = new Producer({ servers: cluster.servers });
    const admin = new Admin({ servers: cluster.servers });
    t.teardown(async () => {
      await browser?.close();
      await server?.close();
      await watcher?.stop();
      await producer.close();
      await admin.close();
      await cluster.destroy();
    });
    const first = await cluster.waitForMaster(15_000);
    watcher = new ClusterWatcher({ servers: cluster.servers, pollMs: POLL_MS });
    watcher.start();
    server = await serveDashboard({ watcher, host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);

    const keyed = await producer.send('orders', { keys: 'order-42 vip', body: Buffer.from('the answer') });
    const load = (async () => {
      for (let i = 0; i < 400; i++) await producer.send('orders', { keys: `order-${i}`, body: Buffer.from(`order ${i}`) }).catch(() => undefined);
    })();
    await waitForShownMaster(page, (id) => id === first.nodeId, 10_000);
    t.equal(await shownMaster(page), first.nodeId, 'the master shown is the real master');
    t.equal(await page.getAttribute(`[data-node=${first.nodeId}]`, 'data-role'), 'MASTER');
    await page.waitForTimeout(1500); // a few chart points
    await shot(page, 'overview');

    await cluster.kill(first.nodeId);
    const failoverShownMs = await waitForShownMaster(page, (id) => id !== first.nodeId && id !== 'none', FAILOVER_SHOWN_MS_MAX);
    const second = await cluster.waitForMaster(5000, first.nodeId);
    t.equal(await shownMaster(page), second.nodeId, `the page shows the new master ${second.nodeId}, ${failoverShownMs} ms after the kill`);
    await page.waitForSelector(`[data-node=${first.nodeId}][data-role=DOWN]`, { timeout: 5000 });
    t.pass(`${first.nodeId} is shown down`);
    await page.waitForSelector(`.timeline li[data-kind=master]:has-text("${second.nodeId} became master")`, { timeout: 5000 });
    await load;

    const third = cluster.nodes.map((n) => n.id).find((id) => id !== first.nodeId && id !== second.nodeId)!;
    await page.click(`button.transfer[data-to=${third}]`);
    await page.waitForSelector('#confirm[open]');
    await shot(page, 'transfer-confirmation');
    await page.click('#confirm-ok');
    await waitForShownMaster(page, (id) => id === third, 10_000);
    t.equal((await cluster.waitForMaster(5000, first.nodeId)).nodeId, third, `the transfer from the page made ${third} the master`);
    await shot(page, 'after-failover-and-transfer');

    await page.fill('#lookup-id', keyed.msgId);
    await page.click('#by-id button');
    await page.waitForSelector(`#lookup-result td:has-text("the answer")`, { timeout: 5000 });
    t.pass('found by msgId');
    await page.fill('#lookup-topic', 'orders');
    await page.fill('#lookup-key', 'vip');
    await page.click('#by-key button');
    await page.waitForSelector(`#lookup-result td:has-text("${keyed.msgId}")`, { timeout: 5000 });
    t.pass('found by key');
    await shot(page, 'message-lookup');
    t.same(pageErrors, [], 'no error in the page');
    t.comment(`browser test run time ${Date.now() - started} ms (failover shown after ${failoverShownMs} ms)`);
  });
}
