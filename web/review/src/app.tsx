import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Client } from 'graphql-ws';
import * as api from './api';
import { APIError, REJECTION_REASONS, type Claim, type JobDetail, type QueueItem, type QueueUpdate, type RejectionReason, type Viewer } from './api';
import { dateTime, shortId, time, words } from './format';

const TOKEN_KEY = 'vidgate.review.token';

export function App() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [viewer, setViewer] = useState<Viewer | null>(null);
  const [authMessage, setAuthMessage] = useState<string | null>(null);

  const signOut = useCallback((message: string | null) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setViewer(null);
    setAuthMessage(message);
  }, []);

  // A token kept from earlier in this tab is checked again on load.
  useEffect(() => {
    if (!token || viewer) return;
    api.viewer(token).then(setViewer, (e) => signOut(authText(e)));
  }, [token, viewer, signOut]);

  if (!token) {
    return (
      <SignIn
        message={authMessage}
        onSignedIn={(t, v) => {
          sessionStorage.setItem(TOKEN_KEY, t);
          setAuthMessage(null);
          setViewer(v);
          setToken(t);
        }}
      />
    );
  }
  if (!viewer) return <main class="center muted">Checking your token…</main>;
  return <Dashboard token={token} viewer={viewer} signOut={signOut} />;
}

/** What to tell a reviewer whose token was refused. */
function authText(e: unknown): string {
  if (api.isAuthError(e)) {
    if (/expired/i.test(e.message)) return `This token has expired (${e.message}). Paste a fresh reviewer token.`;
    return `vidgate refused the token (${e.message}). Paste a valid reviewer token.`;
  }
  return e instanceof Error ? e.message : String(e);
}

function SignIn(props: { message: string | null; onSignedIn: (token: string, v: Viewer) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(props.message);
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const t = value.trim().replace(/^Bearer\s+/i, '');
    if (!t) {
      setError('Paste a token first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const v = await api.viewer(t);
      if (v.role === 'USER') {
        setError(`This token is for ${v.id}, a user: the review dashboard needs a reviewer's or an admin's token.`);
        return;
      }
      props.onSignedIn(t, v);
    } catch (e) {
      setError(authText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="center">
      <form class="signin" onSubmit={submit}>
        <h1>vidgate review</h1>
        <p>
          Paste a reviewer token: a JWT (<code>vidgate token --sub you --role reviewer</code>) or an API key (<code>vg_…</code>).
          It is kept in this tab only and sent to vidgate alone.
        </p>
        <label for="token">Token</label>
        <textarea id="token" name="token" rows={4} spellcheck={false} autocomplete="off" value={value}
          onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Checking…' : 'Sign in'}</button>
      </form>
    </main>
  );
}

type Mode = 'idle' | 'approve' | 'reject';

/** The claim state of the open job, as this reviewer sees it. */
type ClaimState =
  | { kind: 'claiming' }
  | { kind: 'mine'; expiresAt: string }
  | { kind: 'held'; reviewerId: string; expiresAt: string }
  | { kind: 'closed'; message: string };

function Dashboard(props: { token: string; viewer: Viewer; signOut: (message: string | null) => void }) {
  const { token, viewer, signOut } = props;
  const [queue, setQueue] = useState<Map<string, QueueItem>>(new Map());
  const [live, setLive] = useState<'connecting' | 'live' | 'error'>('connecting');
  const [selected, setSelected] = useState<string | null>(null);
  const [detail, setDetail] = useState<JobDetail | null>(null);
  const [detailError, setDetailError] = useState<string | null>(null);
  const [claim, setClaim] = useState<ClaimState | null>(null);
  const [mode, setMode] = useState<Mode>('idle');
  const [reasons, setReasons] = useState<Set<RejectionReason>>(new Set());
  const [note, setNote] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [help, setHelp] = useState(false);
  const [toast, setToast] = useState<string | null>(null);
  const versions = useRef(new Map<string, number>());
  const queueHasListing = useRef(new Set<string>());
  const noteRef = useRef<HTMLTextAreaElement>(null);
  const onKey = useRef<(e: KeyboardEvent) => void>(() => {});
  // Claims the open job again now (a colleague may have left it).
  const retryClaim = useRef<() => void>(() => {});

  const fail = useCallback((e: unknown): boolean => {
    if (api.isAuthError(e)) {
      signOut(authText(e));
      return true;
    }
    return false;
  }, [signOut]);

  // The queue: the jobs query for their listing fields, and reviewQueue
  // for everything that changes after (a version older than one already
  // seen is dropped).
  const apply = useCallback((u: QueueUpdate & Partial<QueueItem>) => {
    const seen = versions.current.get(u.id);
    if (seen !== undefined && u.version < seen) return;
    versions.current.set(u.id, u.version);
    setQueue((q) => {
      const next = new Map(q);
      if (u.status === 'COMPLETED') next.set(u.id, { ...q.get(u.id), ...u });
      else next.delete(u.id);
      return next;
    });
    setDetail((d) => (d && d.id === u.id && u.version >= d.version ? { ...d, ...pickUpdate(u) } : d));
  }, []);

  useEffect(() => {
    let client: Client | null = null;
    let stop = () => {};
    let ended = false;
    client = api.connect(token, (reason) => {
      ended = true;
      signOut(`Your session ended: vidgate closed the live connection (${reason}). Paste a fresh token.`);
    });
    client.on('connected', () => setLive('live'));
    client.on('closed', () => { if (!ended) setLive('connecting'); });
    const listed = api.reviewQueue(token).then((items) => {
      for (const it of items) {
        queueHasListing.current.add(it.id);
        apply(it);
      }
    }, (e) => { if (!fail(e)) setToast(errorText(e)); });
    stop = api.subscribeQueue(client, (u) => {
      apply(u);
      // A job the first listing did not have (it arrived later) is read on its own.
      if (u.status === 'COMPLETED') {
        listed.then(() => {
          if (queueHasListing.current.has(u.id)) return;
          queueHasListing.current.add(u.id);
          api.listing(token, u.id).then((l) => l && apply(l), fail);
        });
      }
    }, (e) => { setLive('error'); fail(e); });
    return () => {
      stop();
      client?.dispose();
    };
  }, [token, apply, fail, signOut]);

  const items = useMemo(() => [...queue.values()].sort(byWaiting), [queue]);

  // Opening a job: read it (prompt and source image, audited) and claim
  // it; leaving it: release the claim.
  useEffect(() => {
    if (!selected) return;
    let gone = false;
    let renew: ReturnType<typeof setTimeout> | undefined;
    let held = false;
    setDetail(null);
    setDetailError(null);
    setMode('idle');
    setClaim({ kind: 'claiming' });
    api.jobDetail(token, selected).then((d) => {
      if (gone) return;
      if (!d) setDetailError('This job is no longer available to you.');
      else setDetail(d);
    }, (e) => { if (!gone && !fail(e)) setDetailError(errorText(e)); });

    const take = () => {
      api.claimReview(token, selected).then((c: Claim) => {
        if (gone) {
          api.releaseReview(token, selected).catch(() => {});
          return;
        }
        held = true;
        setClaim({ kind: 'mine', expiresAt: c.expiresAt });
        // Renew at a third of what is left, so one lost renewal is not the end.
        const left = new Date(c.expiresAt).getTime() - Date.now();
        renew = setTimeout(take, Math.max(1000, left / 3));
      }, (e) => {
        if (gone || fail(e)) return;
        held = false;
        if (e instanceof APIError && e.reason === 'CLAIMED') {
          const until = String(e.extensions.claimExpiresAt ?? '');
          setClaim({ kind: 'held', reviewerId: String(e.extensions.reviewerId ?? 'another reviewer'), expiresAt: until });
          // Try again once the colleague's claim has run out.
          const left = new Date(until).getTime() - Date.now();
          renew = setTimeout(take, Math.max(1000, left + 500));
        } else {
          setClaim({ kind: 'closed', message: errorText(e) });
        }
      });
    };
    take();
    retryClaim.current = () => {
      clearTimeout(renew);
      setClaim({ kind: 'claiming' });
      take();
    };
    const leave = () => { if (held) api.releaseReview(token, selected, true).catch(() => {}); held = false; };
    addEventListener('pagehide', leave);
    return () => {
      gone = true;
      clearTimeout(renew);
      removeEventListener('pagehide', leave);
      leave();
    };
  }, [selected, token, fail]);

  const canDecide = claim?.kind === 'mine' && detail?.status === 'COMPLETED' && !busy;

  const move = useCallback((step: number) => {
    if (items.length === 0) return;
    const i = items.findIndex((it) => it.id === selected);
    const j = i < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, i + step));
    setSelected(items[j].id);
  }, [items, selected]);

  const startDecision = (m: Mode) => {
    if (!canDecide) return;
    setMode(m);
    setFormError(null);
    setNote('');
    setReasons(new Set());
  };

  const toggleReason = (r: RejectionReason) => {
    setReasons((s) => {
      const n = new Set(s);
      if (n.has(r)) n.delete(r);
      else n.add(r);
      return n;
    });
  };

  const confirm = async () => {
    if (!detail || !canDecide || mode === 'idle') return;
    const text = note.trim() || null;
    const picked = REJECTION_REASONS.filter((r) => reasons.has(r));
    if (mode === 'reject' && picked.length === 0) {
      setFormError('Pick at least one reason (keys 1–7).');
      return;
    }
    if (mode === 'reject' && picked.includes('OTHER') && !text) {
      setFormError('“Other” needs a note saying what is wrong.');
      noteRef.current?.focus();
      return;
    }
    setBusy(true);
    setFormError(null);
    try {
      if (mode === 'approve') await api.approve(token, detail.id, text);
      else await api.reject(token, detail.id, picked, text);
      setToast(`${mode === 'approve' ? 'Approved' : 'Rejected'} ${shortId(detail.id)}`);
      setMode('idle');
      setDetail((d) => (d ? { ...d, status: mode === 'approve' ? 'APPROVED' : 'REJECTED' } : d));
      // On to the next job waiting, if any.
      const rest = items.filter((it) => it.id !== detail.id);
      const i = items.findIndex((it) => it.id === detail.id);
      if (rest.length > 0) setSelected(rest[Math.min(Math.max(i, 0), rest.length - 1)].id);
    } catch (e) {
      if (!fail(e)) setFormError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  // Keyboard shortcuts. In the note field only Enter (confirm) and Esc
  // (cancel) act; Shift+Enter is a new line. The listener is added once and
  // calls the handler of the latest render, so a key pressed right after
  // another (r, then 2) sees the state the first one made.
  onKey.current = (e: KeyboardEvent) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement;
    if (e.key === 'Escape') {
      if (help) setHelp(false);
      else if (mode !== 'idle') { setMode('idle'); setFormError(null); }
      (document.activeElement as HTMLElement | null)?.blur();
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && mode !== 'idle') {
      e.preventDefault();
      confirm();
      return;
    }
    if (typing) return;
    if (e.key === '?') { setHelp((h) => !h); return; }
    if (mode === 'reject' && /^[1-9]$/.test(e.key)) {
      const r = REJECTION_REASONS[Number(e.key) - 1];
      if (r) toggleReason(r);
      return;
    }
    if (mode === 'idle') {
      switch (e.key) {
        case 'j': move(1); break;
        case 'k': move(-1); break;
        case 'a': startDecision('approve'); break;
        case 'r': startDecision('reject'); break;
        default: return;
      }
      e.preventDefault();
    } else if (e.key === 'n') {
      e.preventDefault();
      noteRef.current?.focus();
    }
  };
  useEffect(() => {
    const listener = (e: KeyboardEvent) => onKey.current(e);
    addEventListener('keydown', listener);
    return () => removeEventListener('keydown', listener);
  }, []);

  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(null), 4000);
    return () => clearTimeout(t);
  }, [toast]);

  return (
    <div class="layout">
      <header>
        <h1>vidgate review</h1>
        <span class={`live ${live}`} data-live={live}>{live === 'live' ? 'Live' : live === 'error' ? 'Live updates failed' : 'Connecting…'}</span>
        <span class="spacer" />
        <span class="muted">{viewer.id} ({viewer.role.toLowerCase()})</span>
        <button class="link" onClick={() => setHelp(true)} title="Keyboard shortcuts (?)">Shortcuts</button>
        <button class="link" onClick={() => signOut(null)}>Sign out</button>
      </header>
      <nav class="queue" aria-label="Review queue">
        <h2>Waiting for review <span class="count" data-count={items.length}>{items.length}</span></h2>
        {items.length === 0 && <p class="muted empty">Nothing to review. New videos appear here as they finish.</p>}
        <ul>
          {items.map((it) => (
            <li key={it.id}>
              <button class={`item ${it.id === selected ? 'selected' : ''}`} data-job={it.id} onClick={() => setSelected(it.id)}
                aria-current={it.id === selected}>
                <span class="id">{shortId(it.id)}</span>
                <span class="meta">
                  {it.workflowType ? words(it.workflowType) : ''}{it.provider ? ` · ${it.provider}` : ''}
                  {it.durationSeconds ? ` · ${it.durationSeconds}s` : ''}
                </span>
                <span class="meta">ready {time(it.completedAt ?? it.updatedAt)}</span>
                {it.reviewClaim && (
                  <span class={`claim ${it.reviewClaim.reviewerId === viewer.id ? 'mine' : ''}`}>
                    {it.reviewClaim.reviewerId === viewer.id ? 'open by you' : `open by ${it.reviewClaim.reviewerId}`}
                  </span>
                )}
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <main class="detail">
        {!selected && <p class="muted center">Pick a job on the left, or press <kbd>j</kbd>.</p>}
        {selected && detailError && <p class="error" role="alert">{detailError}</p>}
        {selected && !detail && !detailError && <p class="muted">Loading…</p>}
        {detail && (
          <Detail detail={detail} claim={claim} viewer={viewer} mode={mode} canDecide={canDecide}
            reasons={reasons} toggleReason={toggleReason} note={note} setNote={setNote} noteRef={noteRef}
            formError={formError} busy={busy} start={startDecision} confirm={confirm}
            cancel={() => { setMode('idle'); setFormError(null); }}
            reload={() => api.jobDetail(token, detail.id).then((d) => d && setDetail(d), fail)}
            retryClaim={() => retryClaim.current()} />
        )}
      </main>
      {help && <Help close={() => setHelp(false)} />}
      {toast && <div class="toast" role="status">{toast}</div>}
    </div>
  );
}

function pickUpdate(u: Partial<QueueItem>): Partial<JobDetail> {
  const out: Partial<JobDetail> = { status: u.status, version: u.version, reviewClaim: u.reviewClaim ?? null };
  return out;
}

/** Oldest ready first: the queue is worked through in order. */
function byWaiting(a: QueueItem, b: QueueItem): number {
  const ta = a.completedAt ?? a.updatedAt;
  const tb = b.completedAt ?? b.updatedAt;
  return ta < tb ? -1 : ta > tb ? 1 : a.id < b.id ? -1 : 1;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface DetailProps {
  detail: JobDetail;
  claim: ClaimState | null;
  viewer: Viewer;
  mode: Mode;
  canDecide: boolean;
  reasons: Set<RejectionReason>;
  toggleReason: (r: RejectionReason) => void;
  note: string;
  setNote: (s: string) => void;
  noteRef: { current: HTMLTextAreaElement | null };
  formError: string | null;
  busy: boolean;
  start: (m: Mode) => void;
  confirm: () => void;
  cancel: () => void;
  reload: () => void;
  retryClaim: () => void;
}

function Detail(p: DetailProps) {
  const d = p.detail;
  const video = d.artifacts.find((a) => a.kind === 'VIDEO');
  const reloaded = useRef(false);
  useEffect(() => { reloaded.current = false; }, [d.id]);
  // Signed links last minutes: a link that fails is fetched afresh, once per job.
  const expired = () => {
    if (reloaded.current) return;
    reloaded.current = true;
    p.reload();
  };
  return (
    <article data-job={d.id} data-status={d.status}>
      <div class="title">
        <h2>Job {shortId(d.id)}</h2>
        <span class={`status s-${d.status.toLowerCase()}`}>{d.status === 'COMPLETED' ? 'Ready for review' : words(d.status)}</span>
        <ClaimBanner claim={p.claim} status={d.status} retry={p.retryClaim} />
      </div>
      <div class="media">
        <figure>
          {video ? (
            // Muted so the browser lets it start on its own; loops for a second look.
            <video key={video.downloadUrl} src={video.downloadUrl} controls autoplay muted loop playsInline preload="auto" onError={expired} />
          ) : (
            <div class="placeholder">No video stored</div>
          )}
          <figcaption>
            Video{video?.width ? ` · ${video.width}×${video.height}` : ''}{video?.durationSeconds ? ` · ${video.durationSeconds.toFixed(1)} s` : ''}
          </figcaption>
        </figure>
        <figure>
          {d.sourceImageUrl ? <img src={d.sourceImageUrl} alt="Source image" onError={expired} /> : <div class="placeholder">{d.workflowType === 'TEXT_TO_VIDEO' ? 'Text to video: no source image' : 'Source image not available'}</div>}
          <figcaption>Source image</figcaption>
        </figure>
      </div>
      <section class="prompt">
        <h3>Prompt</h3>
        <p class="prompt-text">{d.prompt ?? <span class="muted">not available</span>}</p>
        <dl>
          <dt>Provider</dt><dd>{d.provider}{d.model ? ` · ${d.model}` : ''}</dd>
          <dt>Asked for</dt><dd>{d.durationSeconds} s · {d.aspectRatio} · {d.resolution}</dd>
          <dt>Created</dt><dd>{dateTime(d.createdAt)}</dd>
        </dl>
      </section>
      {d.reviews.length > 0 && (
        <section>
          <h3>Decisions</h3>
          <ul class="reviews">
            {d.reviews.map((r) => (
              <li>{words(r.decision)} by {r.reviewerId} at {dateTime(r.createdAt)}{r.reasons.length > 0 && `: ${r.reasons.map(words).join(', ')}`}{r.note && ` — “${r.note}”`}</li>
            ))}
          </ul>
        </section>
      )}
      <section class="decide">
        {p.mode === 'idle' && (
          <div class="buttons">
            <button class="approve" disabled={!p.canDecide} onClick={() => p.start('approve')}>Approve <kbd>a</kbd></button>
            <button class="reject" disabled={!p.canDecide} onClick={() => p.start('reject')}>Reject <kbd>r</kbd></button>
          </div>
        )}
        {p.mode !== 'idle' && (
          <form class={`decision ${p.mode}`} onSubmit={(e) => { e.preventDefault(); p.confirm(); }}>
            <h3>{p.mode === 'approve' ? 'Approve this video?' : 'Reject: pick the reasons'}</h3>
            {p.mode === 'reject' && (
              <ol class="reasons">
                {REJECTION_REASONS.map((r, i) => (
                  <li>
                    <label>
                      <input type="checkbox" checked={p.reasons.has(r)} onChange={() => p.toggleReason(r)} data-reason={r} />
                      <kbd>{i + 1}</kbd> {words(r)}
                    </label>
                  </li>
                ))}
              </ol>
            )}
            <label for="note">Note {p.mode === 'reject' && p.reasons.has('OTHER') ? '(required for Other)' : '(optional)'} <kbd>n</kbd></label>
            <textarea id="note" ref={p.noteRef} rows={2} value={p.note} onInput={(e) => p.setNote((e.target as HTMLTextAreaElement).value)} />
            {p.formError && <p class="error" role="alert">{p.formError}</p>}
            <div class="buttons">
              <button type="submit" class={p.mode} disabled={p.busy}>{p.busy ? 'Sending…' : 'Confirm'} <kbd>Enter</kbd></button>
              <button type="button" onClick={p.cancel}>Cancel <kbd>Esc</kbd></button>
            </div>
          </form>
        )}
      </section>
    </article>
  );
}

function ClaimBanner(p: { claim: ClaimState | null; status: string; retry: () => void }) {
  const c = p.claim;
  if (p.status !== 'COMPLETED' || !c) return null;
  switch (c.kind) {
    case 'claiming':
      return <span class="banner muted">Claiming…</span>;
    case 'mine':
      return <span class="banner mine" data-claim="mine">Claimed by you until {time(c.expiresAt)}</span>;
    case 'held':
      return (
        <span class="banner held" role="status" data-claim="held">
          Being reviewed by <strong>{c.reviewerId}</strong> until {time(c.expiresAt)}: decisions are off until then
          {' '}<button class="link" data-retry onClick={p.retry}>Try again</button>
        </span>
      );
    case 'closed':
      return <span class="banner held" role="status" data-claim="closed">{c.message}</span>;
  }
}

function Help(p: { close: () => void }) {
  const rows: [string, string][] = [
    ['j / k', 'next / previous job'],
    ['a', 'approve'],
    ['r', 'reject (then pick reasons)'],
    ['1 – 7', 'pick or drop a reason while rejecting'],
    ['n', 'write a note'],
    ['Enter', 'confirm the decision'],
    ['Esc', 'cancel, close this'],
    ['?', 'show or hide these shortcuts'],
  ];
  return (
    <div class="overlay" onClick={p.close}>
      <div class="help" role="dialog" aria-label="Keyboard shortcuts" onClick={(e) => e.stopPropagation()}>
        <h2>Keyboard shortcuts</h2>
        <table>
          <tbody>
            {rows.map(([k, v]) => (
              <tr><td><kbd>{k}</kbd></td><td>{v}</td></tr>
            ))}
          </tbody>
        </table>
        <p class="muted">Opening a job claims it for you (others see it is open and cannot decide it); leaving it gives it back.</p>
        <button onClick={p.close}>Close <kbd>Esc</kbd></button>
      </div>
    </div>
  );
}
