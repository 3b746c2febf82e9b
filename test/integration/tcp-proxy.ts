/** Fault injection for integration tests: a dependency cut off and restored, at the TCP level. */
import net from 'node:net';

/** A TCP proxy (to ClickHouse, the schema registry...) that can be taken down (listener closed, connections cut) and up again on the same port. */
export function toggleableProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const up = () =>
    new Promise<number>((resolve, reject) => {
      if (server?.listening) return resolve(port);
      server = net.createServer((client) => {
        const remote = net.connect(target.port, target.host);
        for (const s of [client, remote]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(remote).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as net.AddressInfo).port;
        resolve(port);
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server?.listening) return resolve();
      server.close(() => resolve());
    });
  return { up, down };
}
