// What the client tests share: a fetch that records what went over HTTP,
// a graphql-ws client for a vidgate, and a deadline for a promise.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

// recordingFetch is fetch that notes each request's method, operation name
// (from a JSON body or the URL) and Accept, and the response's status and
// media type.
export function recordingFetch() {
  const requests = [];
  const f = async (input, init = {}) => {
    let operationName = new URL(String(input)).searchParams.get('operationName') ?? undefined;
    if (typeof init.body === 'string') operationName = JSON.parse(init.body).operationName;
    const res = await fetch(input, init);
    requests.push({
      method: init.method ?? 'GET',
      operationName,
      accept: new Headers(init.headers).get('accept'),
      status: res.status,
      contentType: res.headers.get('content-type'),
    });
    return res;
  };
  f.requests = requests;
  return f;
}

// wsClient is a graphql-ws client that sends the token in connection_init.
export function wsClient(target, options = {}) {
  return createClient({
    url: target.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: target.authorization },
    retryAttempts: 0,
    ...options,
  });
}

// within rejects with what describe() says if promise has not settled in ms.
export function within(promise, ms, describe) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${describe()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
