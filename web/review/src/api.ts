// The dashboard's only way to vidgate: the public GraphQL API over HTTP
// (queries and mutations) and graphql-ws subscriptions, on this origin.
import { createClient, type Client } from 'graphql-ws';

export type JobStatus =
  | 'QUEUED' | 'SUBMITTED' | 'PROCESSING' | 'RETRYING' | 'COMPLETED'
  | 'APPROVED' | 'REJECTED' | 'FAILED' | 'CANCELED' | 'EXPIRED';

// The RejectionReason enum of graph/review.graphqls, in its order: the
// digit keys pick them by position (1 is the first).
export const REJECTION_REASONS = [
  'PRODUCT_SHAPE_CHANGED',
  'LABEL_UNREADABLE',
  'FACE_OR_HAND_DISTORTED',
  'SOURCE_RIGHTS_UNCLEAR',
  'NEEDS_AI_DISCLOSURE',
  'IMPLIES_UNAPPROVED_FEATURE',
  'OTHER',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export interface Claim { reviewerId: string; expiresAt: string }

export interface Artifact {
  kind: 'VIDEO' | 'THUMBNAIL';
  mimeType: string;
  downloadUrl: string;
  sizeBytes: number;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
}

export interface QueueItem {
  id: string;
  status: JobStatus;
  version: number;
  updatedAt: string;
  reviewClaim: Claim | null;
  // The listing (the jobs query, or JobUpdate.job): absent until read.
  workflowType?: string;
  provider?: string;
  model?: string | null;
  durationSeconds?: number;
  aspectRatio?: string;
  completedAt?: string | null;
  artifacts?: Artifact[];
}

export interface JobEvent {
  type: string;
  previousStatus: JobStatus | null;
  newStatus: JobStatus;
  source: string;
  message: string | null;
  createdAt: string;
}

export interface Review {
  decision: 'APPROVED' | 'REJECTED';
  reasons: RejectionReason[];
  note: string | null;
  reviewerId: string;
  createdAt: string;
}

export interface JobDetail extends QueueItem {
  statusCopy: string;
  prompt: string | null;
  sourceImageUrl: string | null;
  resolution: string;
  seed: number | null;
  createdAt: string;
  artifacts: Artifact[];
  events: JobEvent[];
  reviews: Review[];
}

export interface Viewer { id: string; role: 'USER' | 'REVIEWER' | 'ADMIN' }

/** An error from vidgate, with its extensions.code and the rest of extensions. */
export class APIError extends Error {
  constructor(message: string, readonly code: string, readonly extensions: Record<string, unknown> = {}) {
    super(message);
  }
  get reason(): string | undefined { return this.extensions.reason as string | undefined }
}

/** The credential was refused or has ended: the reviewer must sign in again. */
export function isAuthError(e: unknown): e is APIError {
  return e instanceof APIError && e.code === 'UNAUTHENTICATED';
}

const ENDPOINT = '/graphql';

export async function gql<T>(token: string, query: string, variables: Record<string, unknown> = {}, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(ENDPOINT, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      ...init,
    });
  } catch {
    throw new APIError('vidgate cannot be reached: check your connection', 'UNAVAILABLE');
  }
  let body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] } = {};
  try {
    body = await res.json();
  } catch {
    // not JSON: a proxy's page, say; the status decides below
  }
  const err = body.errors?.[0];
  if (res.status === 401 || err?.extensions?.code === 'UNAUTHENTICATED') {
    throw new APIError(err?.message ?? 'the token was refused', 'UNAUTHENTICATED', err?.extensions);
  }
  if (err) {
    throw new APIError(err.message, String(err.extensions?.code ?? 'INTERNAL'), err.extensions ?? {});
  }
  if (!res.ok || !body.data) {
    throw new APIError(`vidgate answered HTTP ${res.status}`, 'UNAVAILABLE');
  }
  return body.data;
}

export function viewer(token: string): Promise<Viewer> {
  return gql<{ viewer: Viewer }>(token, '{ viewer { id role } }').then((d) => d.viewer);
}

const QUEUE_FIELDS = 'id status version updatedAt reviewClaim { reviewerId expiresAt }';
const ARTIFACT_FIELDS = 'artifacts { kind mimeType downloadUrl sizeBytes width height durationSeconds }';
const LIST_FIELDS = `${QUEUE_FIELDS} workflowType provider model durationSeconds aspectRatio completedAt ${ARTIFACT_FIELDS}`;
const REVIEW_FIELDS = 'reviews { decision reasons note reviewerId createdAt }';

/** The jobs waiting for review (COMPLETED), up to 100. No prompt: listing reads no inputs. */
export async function reviewQueue(token: string): Promise<QueueItem[]> {
  const d = await gql<{ jobs: { edges: { node: QueueItem }[] } }>(token,
    `{ jobs(first: 100, status: [COMPLETED]) { edges { node { ${LIST_FIELDS} } } } }`);
  return d.jobs.edges.map((e) => e.node);
}

/** One queue entry's listing fields (a job that arrived over the subscription). */
export async function listing(token: string, id: string): Promise<QueueItem | null> {
  const d = await gql<{ job: QueueItem | null }>(token, `query($id: ID!) { job(id: $id) { ${LIST_FIELDS} } }`, { id });
  return d.job;
}

/** A job with its prompt and source image: each read is an audit entry. */
export async function jobDetail(token: string, id: string): Promise<JobDetail | null> {
  const d = await gql<{ job: JobDetail | null }>(token, `query($id: ID!) { job(id: $id) {
    ${LIST_FIELDS} statusCopy prompt sourceImageUrl resolution seed createdAt
    events { type previousStatus newStatus source message createdAt } ${REVIEW_FIELDS} } }`, { id });
  return d.job;
}

/** A job's status and decisions, without its inputs (no audit entry). */
export async function decisions(token: string, id: string): Promise<Pick<JobDetail, 'id' | 'status' | 'version' | 'reviews'> | null> {
  const d = await gql<{ job: Pick<JobDetail, 'id' | 'status' | 'version' | 'reviews'> | null }>(token,
    `query($id: ID!) { job(id: $id) { id status version ${REVIEW_FIELDS} } }`, { id });
  return d.job;
}

export async function claimReview(token: string, id: string): Promise<Claim> {
  const d = await gql<{ claimReview: Claim }>(token, 'mutation($id: ID!) { claimReview(id: $id) { reviewerId expiresAt } }', { id });
  return d.claimReview;
}

/** Gives the claim up; keepalive lets it leave with a closing tab. */
export async function releaseReview(token: string, id: string, keepalive = false): Promise<void> {
  await gql(token, 'mutation($id: ID!) { releaseReview(id: $id) { id } }', { id }, { keepalive });
}

export async function approve(token: string, id: string, note: string | null): Promise<void> {
  await gql(token, 'mutation($id: ID!, $note: String) { approveVideoJob(id: $id, note: $note) { id status } }', { id, note });
}

export async function reject(token: string, id: string, reasons: RejectionReason[], note: string | null): Promise<void> {
  await gql(token, 'mutation($id: ID!, $reasons: [RejectionReason!]!, $note: String) { rejectVideoJob(id: $id, reasons: $reasons, note: $note) { id status } }',
    { id, reasons, note });
}

/** A live connection for the review queue and the open job. */
export function connect(token: string, onAuthEnded: (reason: string) => void): Client {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return createClient({
    url: `${proto}//${location.host}${ENDPOINT}`,
    connectionParams: () => ({ Authorization: `Bearer ${token}` }),
    lazy: false,
    retryAttempts: Infinity,
    // 4401: the token was refused, expired or revoked. graphql-ws does not
    // retry it; the reviewer has to sign in again.
    on: {
      closed: (ev) => {
        const e = ev as CloseEvent;
        if (e && e.code === 4401) onAuthEnded(e.reason || 'token refused');
      },
    },
  });
}

export type QueueUpdate = Pick<QueueItem, 'id' | 'status' | 'version' | 'updatedAt' | 'reviewClaim'> & {
  // The job as job(id) shows it when the update was sent: its listing and
  // decisions (no prompt: that read would be audited); null once a reviewer
  // may no longer read it.
  job: (QueueItem & { reviews: Review[] }) | null;
};

/** How a decision that lost the race says who won: "already approved by rita". */
export function alreadyDecided(e: unknown): string | null {
  if (!(e instanceof APIError) || e.code !== 'CONFLICT' || e.reason !== 'ALREADY_DECIDED') return null;
  const d = String(e.extensions.decision ?? 'decided').toLowerCase();
  return e.extensions.reviewerId ? `already ${d} by ${e.extensions.reviewerId}` : `already ${d}`;
}

/** reviewQueue: the waiting jobs, then each job entering or leaving review. */
export function subscribeQueue(client: Client, next: (u: QueueUpdate) => void, error: (e: unknown) => void): () => void {
  return client.subscribe<{ reviewQueue: QueueUpdate }>(
    { query: `subscription { reviewQueue { ${QUEUE_FIELDS} job { ${LIST_FIELDS} ${REVIEW_FIELDS} } } }` },
    {
      next: (m) => { if (m.data) next(m.data.reviewQueue); else if (m.errors) error(m.errors[0]); },
      error,
      complete: () => {},
    },
  );
}
