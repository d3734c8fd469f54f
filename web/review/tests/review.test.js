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
  [tokens.alice, tokens.rita, tokens.rob, tokens.expired] = await Promise.all([
    vg.token('alice', 'user'), vg.token('rita', 'reviewer'), vg.token('rob', 'reviewer'), vg.token('rita', 'reviewer', '-1h'),
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

/** A page of the dashboard signed in with token. */
async function signIn(token) {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
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
  await page.screenshot({ path: join(shots, 'queue.png'), fullPage: true });

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
  assert.ok(duration > 0, `video duration ${duration}`);
  await page.waitForFunction(() => {
    const v = document.querySelector('video');
    return v.readyState >= 2 && v.currentTime > 0.3;
  }, null, { timeout: 15_000 });
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
  await rob.keyboard.press('r');
  await rob.keyboard.press('3');
  await rob.keyboard.press('Enter');
  await rita2.waitForSelector(`article[data-job="${id}"][data-status="REJECTED"]`);
  const job = await statusOf(id);
  assert.equal(job.status, 'REJECTED');
  assert.deepEqual(job.reviews.map((r) => r.reviewerId), ['rob']);
  await noCSPViolations(rita2);
  await noCSPViolations(rob);
  await rita2.close();
  await rob.close();
});
