// Runs vidgate (the embedded default, `go run ./cmd/vidgate`) for a browser
// test, and talks to its API the way a client does.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export const repo = resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);

/** Starts vidgate on a free port with a fresh data directory. */
export async function startVidgate(...extraArgs) {
  const dataDir = await mkdtemp(join(tmpdir(), 'vidgate-review-'));
  const child = spawn('go', ['run', './cmd/vidgate', '--addr', '127.0.0.1:0', '--data-dir', dataDir, '--sim-latency', '1s', ...extraArgs], {
    cwd: repo,
    detached: true, // its own process group: go run and the binary it runs stop together
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  const base = await new Promise((resolveBase, reject) => {
    const timer = setTimeout(() => reject(new Error(`vidgate did not start within 120 s:\n${logs}`)), 120_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      logs += chunk;
      const m = /"msg":"vidgate listening"[^\n]*?"addr":"([^"]+)"/.exec(logs);
      if (m) {
        clearTimeout(timer);
        resolveBase(`http://${m[1]}`);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vidgate exited (${code}) before listening:\n${logs}`));
    });
  });
  child.stdout.resume();
  return {
    base,
    dataDir,
    logs: () => logs,
    /** A bearer token from `vidgate token`, signed with this instance's secret. */
    async token(sub, role, ttl = '1h') {
      const { stdout } = await run('go', ['run', './cmd/vidgate', 'token', '--sub', sub, '--role', role, `--ttl=${ttl}`, '--data-dir', dataDir], { cwd: repo });
      return stdout.trim();
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One GraphQL request; throws on any error. */
export async function gql(base, token, query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Creates a job with the simulated provider: image to video with sourceAssetId, else text to video. */
export async function createJob(base, token, prompt, sourceAssetId = null) {
  const input = sourceAssetId
    ? { workflowType: 'IMAGE_TO_VIDEO', sourceAssetId }
    : { workflowType: 'TEXT_TO_VIDEO' };
  const d = await gql(base, token, `mutation($in: CreateVideoJobInput!) { createVideoJob(input: $in) { job { id status } } }`,
    { in: { ...input, provider: 'sim', prompt, durationSeconds: 5 } });
  return d.createVideoJob.job.id;
}

/** A PNG of width × height: a diagonal gradient, so a screenshot shows it. */
export function gradientPNG(width, height) {
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3); // filter byte 0, then RGB
    for (let x = 0; x < width; x++) {
      row[1 + x * 3] = (x * 255) / width;
      row[2 + x * 3] = (y * 255) / height;
      row[3 + x * 3] = 160;
    }
    rows.push(row);
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Uploads a source image as token's owner (GraphQL multipart request); returns its id. */
export async function uploadImage(base, token, png) {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: 'mutation($f: Upload!) { uploadSourceAsset(file: $f) { id } }', variables: { f: null } }));
  form.append('map', JSON.stringify({ 0: ['variables.f'] }));
  form.append('0', new Blob([png], { type: 'image/png' }), 'product.png');
  const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
  const body = await res.json();
  if (body.errors) throw new Error(`uploadSourceAsset: ${JSON.stringify(body.errors)}`);
  return body.data.uploadSourceAsset.id;
}
