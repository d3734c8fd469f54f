// failoverProxy is a TCP proxy standing in for a load balancer: each
// connection goes to the first backend (host:port) that accepts it, so
// once a backend stops listening, new connections reach the next one.
// connections lists, per accepted connection, the backend it reached.
import { createServer, connect } from 'node:net';

export async function failoverProxy(backends) {
  const connections = [];
  const sockets = new Set();
  const server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy()); // before a backend is chosen
    client.pause();
    const attempt = (i) => {
      if (i === backends.length) {
        client.destroy();
        return;
      }
      const { host, port, name } = backends[i];
      const upstream = connect({ host, port });
      upstream.once('error', () => attempt(i + 1));
      upstream.once('connect', () => {
        upstream.removeAllListeners('error');
        connections.push(name);
        sockets.add(upstream);
        upstream.once('close', () => sockets.delete(upstream));
        for (const [from, to] of [[client, upstream], [upstream, client]]) {
          from.on('error', () => to.destroy());
          from.on('close', () => to.destroy());
          from.pipe(to);
        }
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    addr: `127.0.0.1:${port}`,
    connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
