// Runs vidgate (the embedded default, `go run ./cmd/vidgate`) for a browser
// test, and talks to its API the way a client does.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

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
    async token(sub, role) {
      const { stdout } = await run('go', ['run', './cmd/vidgate', 'token', '--sub', sub, '--role', role, '--ttl', '1h', '--data-dir', dataDir], { cwd: repo });
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

/** Creates a text-to-video job with the simulated provider. */
export async function createJob(base, token, prompt) {
  const d = await gql(base, token, `mutation($in: CreateVideoJobInput!) { createVideoJob(input: $in) { job { id status } } }`,
    { in: { workflowType: 'TEXT_TO_VIDEO', provider: 'sim', prompt, durationSeconds: 5 } });
  return d.createVideoJob.job.id;
}
