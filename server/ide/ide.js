// The vidgate IDE: paste a token, run an operation against /graphql on
// this origin, read the JSON. Self-contained on purpose: it must work on a
// machine without internet.
"use strict";

const examples = {
  "viewer": ["{\n  viewer { id role }\n}", {}],
  "my jobs": ["{\n  jobs(first: 20) {\n    edges { node { id status statusCopy provider createdAt } }\n    pageInfo { hasNextPage endCursor }\n  }\n}", {}],
  "create a job": ["mutation($in: CreateVideoJobInput!) {\n  createVideoJob(input: $in) { created job { id status } }\n}", {in: {workflowType: "TEXT_TO_VIDEO", prompt: "a red fox in fresh snow"}}],
  "one job": ["query($id: ID!) {\n  job(id: $id) {\n    id status version prompt sourceImageUrl\n    reviewClaim { reviewerId expiresAt }\n    artifacts { kind downloadUrl }\n    reviews { decision reasons reviewerId createdAt }\n    events { version type newStatus source createdAt }\n  }\n}", {id: ""}],
  "review queue (COMPLETED)": ["{\n  jobs(first: 50, status: [COMPLETED]) {\n    edges { node { id createdAt reviewClaim { reviewerId expiresAt } } }\n  }\n}", {}],
  "claim for review": ["mutation($id: ID!) {\n  claimReview(id: $id) {\n    reviewerId expiresAt\n    job { id status prompt sourceImageUrl artifacts { kind downloadUrl } }\n  }\n}", {id: ""}],
  "release": ["mutation($id: ID!) {\n  releaseReview(id: $id) { id reviewClaim { reviewerId } }\n}", {id: ""}],
  "watch the review queue": ["subscription {\n  reviewQueue { id status version reviewClaim { reviewerId expiresAt } }\n}", {}],
  "approve": ["mutation($id: ID!, $note: String) {\n  approveVideoJob(id: $id, note: $note) { id status }\n}", {id: ""}],
  "reject": ["mutation($id: ID!, $reasons: [RejectionReason!]!, $note: String) {\n  rejectVideoJob(id: $id, reasons: $reasons, note: $note) { id status }\n}", {id: "", reasons: ["LABEL_UNREADABLE"]}],
  "audit log (admins)": ["{\n  auditLog(first: 20) { edges { node { at actor action targetKind targetId detail } } }\n}", {}]
};

const $ = (id) => document.getElementById(id);

let current = null; // the AbortController of the running operation

function choose(name) {
  const [q, v] = examples[name];
  $("query").value = q;
  $("variables").value = JSON.stringify(v, null, 2);
}

async function run() {
  const status = $("status");
  status.className = "";
  let variables;
  try {
    variables = JSON.parse($("variables").value.trim() || "{}");
  } catch (e) {
    status.className = "error";
    status.textContent = "Variables are not JSON: " + e.message;
    return;
  }
  const headers = {"Content-Type": "application/json", "Accept": "application/json"};
  const token = $("token").value.trim();
  if (token) {
    headers["Authorization"] = "Bearer " + token.replace(/^Bearer\s+/i, "");
  }
  if (current) {
    current.abort(); // a subscription still streaming
  }
  current = new AbortController();
  const signal = current.signal;
  const query = $("query").value;
  const body = JSON.stringify({query, variables});
  if (/^\s*subscription\b/.test(query.replace(/#[^\n]*/g, ""))) {
    subscribe(headers, body, signal);
    return;
  }
  $("run").disabled = true;
  status.textContent = "Running…";
  const started = performance.now();
  try {
    const res = await fetch("/graphql", {method: "POST", headers, body, signal});
    const text = await res.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON: show it as it came */ }
    $("result").textContent = shown;
    status.textContent = "HTTP " + res.status + " in " + Math.round(performance.now() - started) + " ms";
  } catch (e) {
    status.className = "error";
    status.textContent = "Request failed: " + e.message;
  } finally {
    $("run").disabled = false;
  }
}

// subscribe streams a subscription over Server-Sent Events (POST with
// Accept: text/event-stream), showing each event as it arrives, until the
// server ends it or another operation is run.
async function subscribe(headers, body, signal) {
  const status = $("status");
  headers["Accept"] = "text/event-stream";
  $("result").textContent = "";
  status.textContent = "Subscribed; run another operation to stop.";
  try {
    const res = await fetch("/graphql", {method: "POST", headers, body, signal});
    if (!res.ok || !res.body) {
      $("result").textContent = await res.text();
      status.textContent = "HTTP " + res.status;
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const {value, done} = await reader.read();
      if (done) {
        break;
      }
      $("result").textContent += decoder.decode(value, {stream: true});
    }
    status.textContent = "Subscription ended.";
  } catch (e) {
    if (e.name !== "AbortError") {
      status.className = "error";
      status.textContent = "Subscription failed: " + e.message;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const select = $("example");
  for (const name of Object.keys(examples)) {
    const o = document.createElement("option");
    o.value = o.textContent = name;
    select.appendChild(o);
  }
  select.addEventListener("change", () => choose(select.value));
  choose(select.value);
  // The token stays in this tab (sessionStorage), never in a cookie.
  $("token").value = sessionStorage.getItem("vidgate-token") || "";
  $("token").addEventListener("change", () => sessionStorage.setItem("vidgate-token", $("token").value));
  $("run").addEventListener("click", run);
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      run();
    }
  });
});
