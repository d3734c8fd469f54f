import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Client } from 'graphql-ws';
import * as api from './api';
import { APIError, REJECTION_REASONS, type Artifact, type Claim, type JobDetail, type QueueItem, type RejectionReason, type Review, type Viewer } from './api';
import { ago, bytes, dateTime, seconds, shortId, time, words } from './format';

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
  const videoRef = useRef<HTMLVideoElement>(null);
  // The queue's ages count from this, moved on every 30 seconds.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);
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
  const apply = useCallback((u: QueueItem & { reviews?: Review[] }) => {
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
      const { job, ...update } = u;
      apply(update);
      // The update carries the job's listing (read when it was sent, so
      // perhaps a newer version); without it, the listing is read on its own.
      if (job) apply(job);
      else if (u.status === 'COMPLETED') {
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
          const already = api.alreadyDecided(e);
          setClaim({ kind: 'closed', message: already ? `This job was ${already}.` : errorText(e) });
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

  // A job decided while open (here or elsewhere): read who decided it.
  const decidedId = detail && (detail.status === 'APPROVED' || detail.status === 'REJECTED') && detail.reviews.length === 0 ? detail.id : null;
  useEffect(() => {
    if (!decidedId) return;
    api.decisions(token, decidedId).then((j) => {
      if (j) setDetail((d) => (d && d.id === j.id && j.version >= d.version ? { ...d, status: j.status, version: j.version, reviews: j.reviews } : d));
    }, fail);
  }, [decidedId, token, fail]);

  const canDecide = claim?.kind === 'mine' && detail?.status === 'COMPLETED' && !busy;

  const move = useCallback((step: number) => {
    if (items.length === 0) return;
    const i = items.findIndex((it) => it.id === selected);
    const j = i < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, i + step));
    setSelected(items[j].id);
  }, [items, selected]);

  // A signed link that stopped working (it lasts minutes): read the listing again.
  const refreshListing = useCallback((id: string) => {
    api.listing(token, id).then((l) => l && apply(l), fail);
  }, [token, apply, fail]);

  /** Opens the job after id in the queue (or before it, at the end). */
  const moveOn = (id: string) => {
    const rest = items.filter((it) => it.id !== id);
    const i = items.findIndex((it) => it.id === id);
    if (rest.length > 0) setSelected(rest[Math.min(Math.max(i, 0), rest.length - 1)].id);
  };

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
      moveOn(detail.id);
    } catch (e) {
      const already = api.alreadyDecided(e);
      if (already) {
        // Someone decided it first: say who, and go on to the next job.
        const status = String((e as APIError).extensions.decision) as JobDetail['status'];
        setToast(`Job ${shortId(detail.id)} was ${already}`);
        setMode('idle');
        setDetail((d) => (d && d.id === detail.id ? { ...d, status } : d));
        moveOn(detail.id);
      } else if (!fail(e)) setFormError(errorText(e));
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
    if (e.key === ',' || e.key === '.') {
      e.preventDefault();
      stepFrame(videoRef.current, e.key === '.' ? 1 : -1);
      return;
    }
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
              <Row it={it} selected={it.id === selected} viewer={viewer} now={now}
                open={() => setSelected(it.id)} refresh={() => refreshListing(it.id)} />
            </li>
          ))}
        </ul>
      </nav>
      <main class="detail">
        {!selected && <div class="center"><p class="muted">Pick a job on the left, or press <kbd>j</kbd>.</p></div>}
        {selected && detailError && <p class="error" role="alert">{detailError}</p>}
        {selected && !detail && !detailError && <p class="muted">Loading…</p>}
        {detail && (
          <Detail detail={detail} claim={claim} viewer={viewer} mode={mode} canDecide={canDecide}
            videoRef={videoRef} reasons={reasons} toggleReason={toggleReason} note={note} setNote={setNote} noteRef={noteRef}
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

function pickUpdate(u: Partial<JobDetail>): Partial<JobDetail> {
  const out: Partial<JobDetail> = { status: u.status, version: u.version, reviewClaim: u.reviewClaim ?? null };
  if (u.reviews) out.reviews = u.reviews;
  return out;
}

function videoOf(it: QueueItem): Artifact | undefined {
  return it.artifacts?.find((a) => a.kind === 'VIDEO');
}

/** A queue entry: poster frame, id and age, provider and model, duration and size, who has it open. */
function Row(p: { it: QueueItem; selected: boolean; viewer: Viewer; now: number; open: () => void; refresh: () => void }) {
  const { it, viewer } = p;
  const video = videoOf(it);
  const claim = it.reviewClaim;
  const dur = video?.durationSeconds ?? it.durationSeconds;
  return (
    <button class={`item ${p.selected ? 'selected' : ''}`} data-job={it.id} onClick={p.open} aria-current={p.selected}>
      <Poster url={video?.downloadUrl} onError={p.refresh} />
      <span class="info">
        <span class="line"><span class="id">{shortId(it.id)}</span><span class="age" title={`ready ${dateTime(it.completedAt ?? it.updatedAt)}`}>{ago(it.completedAt ?? it.updatedAt, p.now)}</span></span>
        <span class="meta" data-field="model">{it.provider ?? ''}{it.model ? ` · ${it.model}` : ''}</span>
        <span class="meta" data-field="media">{dur ? seconds(dur) : ''}{video ? ` · ${bytes(video.sizeBytes)}` : ''}</span>
        {claim && (
          <span class={`claim ${claim.reviewerId === viewer.id ? 'mine' : ''}`}>
            {claim.reviewerId === viewer.id ? 'open by you' : `open by ${claim.reviewerId}`}
          </span>
        )}
      </span>
    </button>
  );
}

/**
 * The video's first frame as a still: <video preload=metadata> at #t=0.1,
 * loaded only once its row scrolls into view.
 */
function Poster(p: { url: string | undefined; onError: () => void }) {
  const ref = useRef<HTMLSpanElement>(null);
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el || seen) return;
    const io = new IntersectionObserver((es) => {
      if (es.some((e) => e.isIntersecting)) {
        setSeen(true);
        io.disconnect();
      }
    }, { rootMargin: '120px' });
    io.observe(el);
    return () => io.disconnect();
  }, [seen]);
  const failed = useRef(false);
  const onError = () => {
    if (failed.current) return;
    failed.current = true;
    p.onError();
  };
  return (
    <span class="poster" ref={ref}>
      {seen && p.url && <video key={p.url} src={`${p.url}#t=0.1`} preload="metadata" muted playsInline tabIndex={-1} onError={onError} />}
    </span>
  );
}

const DEFAULT_FPS = 24;

/** Pauses v and moves it n frames (at its measured frame rate, else 24 fps), to the middle of the frame. */
function stepFrame(v: HTMLVideoElement | null, n: number) {
  if (!v) return;
  v.pause();
  const fps = Number(v.dataset.fps) || DEFAULT_FPS;
  const last = v.duration > 0 ? Math.floor(v.duration * fps) - 1 : Infinity;
  const frame = Math.min(last, Math.max(0, Math.floor(v.currentTime * fps) + n));
  v.currentTime = (frame + 0.5) / fps;
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
  videoRef: { current: HTMLVideoElement | null };
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
        {(d.status === 'APPROVED' || d.status === 'REJECTED') && d.reviews.length > 0 && (
          <span class="banner held" data-decided>{decidedBy(d)}</span>
        )}
      </div>
      <div class="media">
        <figure>
          {video ? (
            <Player key={video.downloadUrl} video={video} videoRef={p.videoRef} onError={expired} />
          ) : (
            <div class="placeholder">No video stored</div>
          )}
        </figure>
        <figure>
          {d.sourceImageUrl ? <img src={d.sourceImageUrl} alt="Source image" onError={expired} /> : <div class="placeholder">{d.workflowType === 'TEXT_TO_VIDEO' ? 'Text to video: no source image' : 'Source image not available'}</div>}
          <figcaption>Source image</figcaption>
        </figure>
      </div>
      <section class="prompt">
        <h3>Prompt</h3>
        <p class="prompt-text">{d.prompt ?? <span class="muted">not available</span>}</p>
        <dl class="params">
          <dt>Provider</dt><dd>{d.provider}</dd>
          <dt>Model</dt><dd>{d.model ?? <span class="muted">provider's default</span>}</dd>
          <dt>Duration</dt><dd>{d.durationSeconds} s</dd>
          <dt>Ratio</dt><dd>{d.aspectRatio}</dd>
          <dt>Resolution</dt><dd>{d.resolution}</dd>
          {d.seed != null && <><dt>Seed</dt><dd>{d.seed}</dd></>}
          <dt>Workflow</dt><dd>{words(d.workflowType ?? '')}</dd>
          <dt>Created</dt><dd>{dateTime(d.createdAt)}</dd>
          <dt>Completed</dt><dd>{dateTime(d.completedAt)}</dd>
        </dl>
      </section>
      {d.reviews.length > 0 && (
        <section>
          <h3>Earlier reviews</h3>
          <ul class="reviews">
            {d.reviews.map((r) => (
              <li>{words(r.decision)} by {r.reviewerId} at {dateTime(r.createdAt)}{r.reasons.length > 0 && `: ${r.reasons.map(words).join(', ')}`}{r.note && ` — “${r.note}”`}</li>
            ))}
          </ul>
        </section>
      )}
      <section>
        <h3>History</h3>
        <table class="events">
          <thead><tr><th>Time</th><th>Event</th><th>Status</th><th>Source</th><th /></tr></thead>
          <tbody>
            {d.events.map((ev) => (
              <tr data-event={ev.type}>
                <td>{time(ev.createdAt)}</td>
                <td>{ev.type}</td>
                <td>{ev.previousStatus ? `${words(ev.previousStatus)} → ` : ''}{words(ev.newStatus)}</td>
                <td>{ev.source.toLowerCase()}</td>
                <td class="muted">{ev.message ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
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

/** "Approved by rita at …": who decided a decided job, from its last review. */
function decidedBy(d: JobDetail): string {
  const r = d.reviews[d.reviews.length - 1];
  return `${words(r.decision)} by ${r.reviewerId} at ${time(r.createdAt)}`;
}

/**
 * The native player with frame stepping (`,` and `.` or the buttons): one
 * frame at the frame rate measured while it plays, 24 fps until then.
 */
function Player(p: { video: Artifact; videoRef: { current: HTMLVideoElement | null }; onError: () => void }) {
  const v = p.video;
  const [fps, setFps] = useState<number | null>(null);
  const [pos, setPos] = useState(0);
  useEffect(() => {
    const el = p.videoRef.current;
    if (!el || !('requestVideoFrameCallback' in el)) return;
    // The shortest gap between two frames shown one after the other is a frame.
    let last: { t: number; n: number } | null = null;
    let best = Infinity;
    let samples = 0;
    let handle = 0;
    const onFrame = (_: number, m: VideoFrameCallbackMetadata) => {
      if (last && m.presentedFrames === last.n + 1 && m.mediaTime > last.t) {
        best = Math.min(best, m.mediaTime - last.t);
        if (++samples >= 8) {
          const rate = Math.round(100 / best) / 100;
          el.dataset.fps = String(rate);
          setFps(rate);
        }
      }
      last = { t: m.mediaTime, n: m.presentedFrames };
      if (samples < 8) handle = el.requestVideoFrameCallback(onFrame);
    };
    handle = el.requestVideoFrameCallback(onFrame);
    return () => el.cancelVideoFrameCallback(handle);
  }, [v.downloadUrl]);
  const rate = fps ?? DEFAULT_FPS;
  return (
    <>
      {/* Muted so the browser lets it start on its own; loops for a second look. */}
      <video key={v.downloadUrl} ref={p.videoRef} src={v.downloadUrl} controls autoplay muted loop playsInline preload="auto" onError={p.onError}
        onTimeUpdate={(e) => setPos((e.target as HTMLVideoElement).currentTime)} onSeeked={(e) => setPos((e.target as HTMLVideoElement).currentTime)} />
      <figcaption class="player">
        <button type="button" class="step" data-step="-1" onClick={() => stepFrame(p.videoRef.current, -1)} title="Previous frame (,)">◀ frame <kbd>,</kbd></button>
        <button type="button" class="step" data-step="1" onClick={() => stepFrame(p.videoRef.current, 1)} title="Next frame (.)">frame ▶ <kbd>.</kbd></button>
        <span data-frame={Math.floor(pos * rate)}>frame {Math.floor(pos * rate) + 1} · {pos.toFixed(2)} s</span>
        <span class="spacer" />
        <span>
          {v.width ? `${v.width}×${v.height} · ` : ''}{v.durationSeconds ? `${seconds(v.durationSeconds)} · ` : ''}{bytes(v.sizeBytes)} · {fps ? `${fps} fps` : `${DEFAULT_FPS} fps (assumed)`}
        </span>
      </figcaption>
    </>
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
    [', / .', 'pause, then one frame back / forward'],
    ['Enter', 'confirm the decision'],
    ['Shift+Enter', 'new line in the note'],
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
