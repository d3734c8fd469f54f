// The review dashboard in a real browser against a real vidgate: a job
// arrives live, is watched, approved from the keyboard; a colleague's
// claim keeps a second reviewer from deciding.
//
// REVIEW_SCREENSHOTS=1 writes the screenshots to docs/review/ (the docs'
// pictures); otherwise they go to a temporary directory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJob, gql, gradientPNG, repo, startVidgate, uploadImage } from './vidgate.js';
import { launch } from './browser.js';

let vg, browser, shots;
const tokens = {};

before(async () => {
  shots = process.env.REVIEW_SCREENSHOTS === '1' ? join(repo, 'docs/review') : await mkdtemp(join(tmpdir(), 'review-shots-'));
  await mkdir(shots, { recursive: true });
  vg = await startVidgate();
  [tokens.alice, tokens.rita, tokens.rob, tokens.expired, tokens.ops] = await Promise.all([
    vg.token('alice', 'user'), vg.token('rita', 'reviewer'), vg.token('rob', 'reviewer'), vg.token('rita', 'reviewer', '-1h'),
    vg.token('ops', 'admin'),
  ]);
  browser = await launch();
  // Anything the page's Content-Security-Policy blocks is a defect.
  await browser.context.addInitScript(() => {
    window.__cspViolations = [];
    addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
});

async function noCSPViolations(page) {
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], 'the CSP blocked something the page loads');
}

after(async () => {
  await browser?.close();
  await vg?.stop();
});

/** A page of the dashboard signed in with token; prepare(page) runs before it loads. */
async function signIn(token, prepare = async () => {}) {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  await prepare(page);
  await page.goto(`${vg.base}/review`);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-live="live"]');
  return page;
}

async function statusOf(id) {
  const d = await gql(vg.base, tokens.rita, 'query($id: ID!) { job(id: $id) { status reviews { decision reviewerId note } } }', { id });
  return d.job;
}

test('a new video arrives live, plays beside its source image and prompt, and is approved from the keyboard', async () => {
  // Sign-in: a bad token is refused with a message, a user's token too.
  const page = await browser.context.newPage();
  await page.goto(`${vg.base}/review`);
  await page.screenshot({ path: join(shots, 'sign-in.png'), fullPage: true });
  await page.fill('#token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.bad-signature');
  await page.click('button[type=submit]');
  await page.locator('[role=alert]', { hasText: 'vidgate refused the token' }).waitFor();
  await page.fill('#token', tokens.expired);
  await page.click('button[type=submit]');
  await page.locator('[role=alert]', { hasText: /^This token has expired \(.+\)\. Paste a fresh reviewer token\.$/ }).waitFor();
  await page.fill('#token', tokens.alice);
  await page.click('button[type=submit]');
  await page.locator('[role=alert]', { hasText: 'a user: the review dashboard needs a reviewer' }).waitFor();
  await page.fill('#token', tokens.rita);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-live="live"]');

  // The job is created after the dashboard is open: it can only come live.
  const image = await uploadImage(vg.base, tokens.alice, gradientPNG(320, 180));
  const id = await createJob(vg.base, tokens.alice, 'a paper boat drifting down a rainy street', image);
  await page.waitForSelector(`.queue [data-job="${id}"]`, { timeout: 60_000 });
  const { job: stored } = await gql(vg.base, tokens.rita, `query($id: ID!) { job(id: $id) {
    provider model artifacts { kind sizeBytes durationSeconds width height } } }`, { id });
  const artifact = stored.artifacts.find((a) => a.kind === 'VIDEO');
  assert.ok(artifact.durationSeconds > 0 && artifact.sizeBytes > 0, JSON.stringify(artifact));

  // The row: poster frame (the video's metadata only, at 0.1 s), age, provider and model, duration and size.
  const row = `.queue [data-job="${id}"]`;
  const poster = await page.waitForSelector(`${row} .poster video`);
  assert.equal(await poster.getAttribute('preload'), 'metadata');
  assert.match(await poster.getAttribute('src'), /#t=0\.1$/);
  await page.waitForFunction((sel) => document.querySelector(sel).readyState >= 2, `${row} .poster video`, { timeout: 15_000 });
  assert.match(await page.textContent(`${row} .age`), /^(just now|\d+ min ago)$/);
  assert.equal(await page.textContent(`${row} [data-field=model]`), stored.model ? `${stored.provider} · ${stored.model}` : stored.provider);
  assert.match(await page.textContent(`${row} [data-field=media]`), new RegExp(`^${artifact.durationSeconds.toFixed(1)} s · \\d+(\\.\\d)? (KB|MB)$`));

  await page.keyboard.press('j');
  await page.waitForSelector(`article[data-job="${id}"] [data-claim="mine"]`);
  assert.equal(await page.textContent('.prompt-text'), 'a paper boat drifting down a rainy street');
  // The source image, read through the API by the reviewer, is shown.
  await page.waitForFunction(() => document.querySelector('img[alt="Source image"]')?.naturalWidth === 320);

  // The video plays: play() resolves, it has a duration, and time moves on.
  const duration = await page.evaluate(async () => {
    const v = document.querySelector('video');
    await v.play();
    return v.duration;
  });
  // The browser reads the duration vidgate stored for the video.
  assert.ok(Math.abs(duration - artifact.durationSeconds) <= 0.2, `video duration ${duration}, stored ${artifact.durationSeconds}`);
  await page.waitForFunction(() => {
    const v = document.querySelector('article video');
    return v.readyState >= 2 && v.currentTime > 0.3;
  }, null, { timeout: 15_000 });
  // The parameters and the job's history.
  const params = await page.textContent('dl.params');
  assert.match(params, /Duration5 s/);
  assert.match(params, /Ratio16:9/);
  assert.match(params, /Resolution720p/);
  const events = await page.$$eval('table.events tbody tr', (rows) => rows.map((r) => r.dataset.event));
  assert.equal(events[0], 'queued');
  assert.ok(events.length >= 3, `events ${events}`);

  // Frame stepping: `.` and `,` pause the video and move one frame (at the
  // measured frame rate, else 24 fps); so do the buttons.
  await page.evaluate(() => new Promise((resolve) => {
    const v = document.querySelector('article video');
    v.pause();
    v.addEventListener('seeked', resolve, { once: true });
    v.currentTime = 1;
  }));
  const atFrame = (n) => page.waitForFunction((n) => {
    const v = document.querySelector('article video');
    const fps = Number(v.dataset.fps) || 24;
    return v.paused && !v.seeking && Math.abs(v.currentTime - (Math.floor(fps) + n + 0.5) / fps) < 1e-3;
  }, n, { timeout: 5000 });
  await page.keyboard.press('.');
  await atFrame(1);
  await page.keyboard.press('.');
  await atFrame(2);
  await page.keyboard.press(',');
  await atFrame(1);
  await page.click('button[data-step="-1"]');
  await atFrame(0);
  await page.screenshot({ path: join(shots, 'review.png'), fullPage: true });

  // Reject's reasons, by digits; Esc cancels.
  await page.keyboard.press('r');
  await page.keyboard.press('2');
  await page.keyboard.press('5');
  assert.deepEqual(await page.$$eval('[data-reason]:checked', (els) => els.map((e) => e.dataset.reason)), ['LABEL_UNREADABLE', 'NEEDS_AI_DISCLOSURE']);
  await page.screenshot({ path: join(shots, 'reject.png'), fullPage: true });
  await page.keyboard.press('Escape');
  await page.waitForSelector('form.decision', { state: 'detached' });

  // ? shows the shortcuts.
  await page.keyboard.press('?');
  await page.waitForSelector('[role=dialog]');
  const keys = await page.$$eval('[role=dialog] kbd', (ks) => ks.map((k) => k.textContent));
  for (const k of ['j / k', 'a', 'r', '1 – 7', 'n', ', / .', 'Enter', 'Shift+Enter', 'Esc', '?']) assert.ok(keys.includes(k), `shortcut ${k} not listed: ${keys}`);
  await page.screenshot({ path: join(shots, 'shortcuts.png'), fullPage: true });
  await page.keyboard.press('Escape');

  // a, a note, Enter: approved, and gone from the queue.
  await page.keyboard.press('a');
  await page.keyboard.press('n');
  await page.keyboard.type('label and shape fine');
  await page.keyboard.press('Enter');
  await page.waitForSelector(`.queue [data-job="${id}"]`, { state: 'detached' });
  const job = await statusOf(id);
  assert.equal(job.status, 'APPROVED');
  assert.deepEqual(job.reviews, [{ decision: 'APPROVED', reviewerId: 'rita', note: 'label and shape fine' }]);
  await noCSPViolations(page);
  await page.close();
});

test("a colleague's claim: the second reviewer sees who holds it and cannot decide until it is given back", async () => {
  const rita = await signIn(tokens.rita);
  const rob = await signIn(tokens.rob);
  const id = await createJob(vg.base, tokens.alice, 'a lighthouse in fog, slow pan');
  await rita.waitForSelector(`.queue [data-job="${id}"]`, { timeout: 60_000 });
  await rita.click(`.queue [data-job="${id}"]`);
  await rita.waitForSelector(`article[data-job="${id}"] [data-claim="mine"]`);

  // Rob's queue shows the job open by rita (live), and opening it does not take it.
  await rob.waitForSelector(`.queue [data-job="${id}"] .claim`);
  assert.match(await rob.textContent(`.queue [data-job="${id}"] .claim`), /open by rita/);
  await rob.click(`.queue [data-job="${id}"]`);
  const banner = await rob.waitForSelector(`article[data-job="${id}"] [data-claim="held"]`);
  assert.match(await banner.textContent(), /Being reviewed by rita until/);
  assert.equal(await rob.isDisabled('button.approve'), true);
  assert.equal(await rob.isDisabled('button.reject'), true);
  await rob.keyboard.press('a');
  assert.equal(await rob.$('form.decision'), null, 'a opened a decision form without the claim');
  await rob.screenshot({ path: join(shots, 'claimed.png'), fullPage: true });
  assert.equal((await statusOf(id)).status, 'COMPLETED');

  // Rita leaves (signs out): her claim is given back, and rob can take the job.
  await noCSPViolations(rita);
  await Promise.all([
    rita.waitForResponse((r) => r.request().postData()?.includes('releaseReview') && r.ok()),
    rita.click('text=Sign out'),
  ]);
  assert.equal((await gql(vg.base, tokens.rita, 'query($id: ID!) { job(id: $id) { reviewClaim { reviewerId } } }', { id })).job.reviewClaim, null);
  await rita.close();
  await rob.click('[data-retry]');
  await rob.waitForSelector(`article[data-job="${id}"] [data-claim="mine"]`);
  assert.equal(await rob.isDisabled('button.reject'), false);

  // Now rita, back, sees rob's claim; rob rejects and her page sees the job leave review.
  const rita2 = await signIn(tokens.rita);
  await rita2.waitForSelector(`.queue [data-job="${id}"] .claim:has-text("open by rob")`);
  await rita2.click(`.queue [data-job="${id}"]`);
  await rita2.waitForSelector(`article[data-job="${id}"] [data-claim="held"]`);
  // Two reasons and a note.
  await rob.keyboard.press('r');
  await rob.keyboard.press('3');
  await rob.keyboard.press('1');
  await rob.keyboard.press('n');
  await rob.keyboard.type('hands melt at 0:02, bottle shape off');
  await rob.keyboard.press('Enter');
  await rita2.waitForSelector(`article[data-job="${id}"][data-status="REJECTED"]`);
  assert.match(await rita2.textContent(`article[data-job="${id}"] [data-decided]`), /^Rejected by rob at /);
  // It leaves both reviewers' queues.
  await rob.waitForSelector(`.queue [data-job="${id}"]`, { state: 'detached' });
  await rita2.waitForSelector(`.queue [data-job="${id}"]`, { state: 'detached' });
  const { job } = await gql(vg.base, tokens.rita, 'query($id: ID!) { job(id: $id) { status reviews { decision reviewerId reasons note } } }', { id });
  assert.equal(job.status, 'REJECTED');
  assert.deepEqual(job.reviews, [{ decision: 'REJECTED', reviewerId: 'rob', reasons: ['PRODUCT_SHAPE_CHANGED', 'FACE_OR_HAND_DISTORTED'], note: 'hands melt at 0:02, bottle shape off' }]);

  // An admin's audit log has rob's decision and his read of alice's prompt.
  const { auditLog } = await gql(vg.base, tokens.ops, `query { auditLog(first: 100, actor: "rob") {
    edges { node { action actorRole targetKind targetId detail } } } }`);
  const entries = auditLog.edges.map((e) => e.node).filter((n) => n.targetId === id);
  const reject = entries.find((n) => n.action === 'job.reject');
  assert.ok(reject, `no job.reject for rob: ${JSON.stringify(entries)}`);
  assert.equal(reject.actorRole, 'reviewer');
  assert.match(reject.detail ?? '', /PRODUCT_SHAPE_CHANGED/);
  assert.ok(entries.some((n) => n.action === 'job.prompt_read' && n.targetKind === 'job'), `no job.prompt_read for rob: ${JSON.stringify(entries)}`);
  await noCSPViolations(rita2);
  await noCSPViolations(rob);
  await rita2.close();
  await rob.close();
});

test('a job decided elsewhere first: the page says who decided it and moves on', async () => {
  // This page's live updates can be held back, so it still shows the job
  // as waiting when its decision reaches vidgate second.
  let hold = false;
  const page = await signIn(tokens.rita, (p) => p.routeWebSocket(/\/graphql$/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((m) => { if (!hold) ws.send(m); });
  }));
  const first = await createJob(vg.base, tokens.alice, 'a red kettle on a stove, steam rising');
  const second = await createJob(vg.base, tokens.alice, 'the same kettle, closer');
  await page.waitForSelector(`.queue [data-job="${first}"]`, { timeout: 60_000 });
  await page.waitForSelector(`.queue [data-job="${second}"]`, { timeout: 60_000 });
  // Oldest first.
  assert.deepEqual(await page.$$eval('.queue [data-job]', (els) => els.map((e) => e.dataset.job)), [first, second]);
  await page.waitForFunction(() => [...document.querySelectorAll('.queue .poster video')].every((v) => v.readyState >= 2), null, { timeout: 15_000 });
  await page.screenshot({ path: join(shots, 'queue.png'), fullPage: true });
  await page.click(`.queue [data-job="${first}"]`);
  await page.waitForSelector(`article[data-job="${first}"] [data-claim="mine"]`);
  await page.keyboard.press('a');
  await page.waitForSelector('form.decision.approve');

  // The same reviewer, from another tab, approves it first.
  hold = true;
  await gql(vg.base, tokens.rita, 'mutation($id: ID!) { approveVideoJob(id: $id, note: "from the other tab") { id } }', { id: first });
  await page.keyboard.press('Enter');
  await page.locator('.toast', { hasText: `Job ${first.slice(0, 8)} was already approved by rita` }).waitFor();
  // On to the next job.
  await page.waitForSelector(`article[data-job="${second}"]`);
  hold = false;
  const job = await statusOf(first);
  assert.deepEqual(job.reviews, [{ decision: 'APPROVED', reviewerId: 'rita', note: 'from the other tab' }]);
  await noCSPViolations(page);
  await page.close();
});
