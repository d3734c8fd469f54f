// Starts vidgate's embedded default (`go run ./cmd/vidgate`) on a free
// loopback port with a temporary --data-dir, and gives the tests its
// GraphQL URL, a bearer token (from `vidgate token`) and a fetch that sends
// it. stop() ends the process group it started and removes the data.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

// How long vidgate may take to start: `go run` may have to build it first.
const startTimeoutMs = 120_000;

export async function startVidgate() {
  const dataDir = await mkdtemp(join(tmpdir(), 'vidgate-clients-'));
  // detached: vidgate runs in a process group of its own (go run and the
  // binary it builds), which stop() ends as a whole.
  const child = spawn('go', ['run', './cmd/vidgate', '--addr', '127.0.0.1:0', '--data-dir', dataDir], {
    cwd: repo,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b) => {
    stderr = (stderr + b).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const base = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`vidgate did not start within ${startTimeoutMs} ms:\n${stderr}`)), startTimeoutMs);
      child.stdout.on('data', (b) => {
        out += b;
        const m = out.match(/GraphQL API\s+(http:\/\/\S+)\/graphql/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`vidgate exited (${code ?? signal}) before it listened:\n${stderr}`));
      });
    });
    child.stdout.resume();
    const ready = await fetch(`${base}/readyz`);
    if (!ready.ok) throw new Error(`vidgate is not ready: ${ready.status} ${await ready.text()}`);
    const { stdout: token } = await promisify(execFile)(
      'go', ['run', './cmd/vidgate', 'token', '--sub', 'conformance', '--role', 'user', '--ttl', '1h', '--data-dir', dataDir],
      { cwd: repo },
    );
    const authorization = `Bearer ${token.trim()}`;
    const authFetch = (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', authorization);
      return fetch(input, { ...init, headers });
    };
    return { url: `${base}/graphql`, base, authorization, fetch: authFetch, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
