/** Health probes: short timeouts, never throw (a failed probe is just `false`). */
import net from 'node:net';

export async function httpProbe(
  url: string,
  accept: (status: number, body: string) => boolean,
  init: RequestInit = {},
  timeoutMs = 3_000,
): Promise<boolean> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return accept(res.status, await res.text());
  } catch {
    return false;
  }
}

/**
 * Sends a Kafka ApiVersions v0 request and checks the broker answers it without error: proves the
 * broker speaks the protocol, not just that the port is open.
 */
export function kafkaProbe(host: string, port: number, timeoutMs = 3_000): Promise<boolean> {
  return new Promise((resolve) => {
    const clientId = Buffer.from('grip-stack-health');
    const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
    let o = body.writeInt16BE(18, 0); // api key: ApiVersions
    o = body.writeInt16BE(0, o); // api version 0
    o = body.writeInt32BE(4242, o); // correlation id
    o = body.writeInt16BE(clientId.length, o);
    clientId.copy(body, o);
    const frame = Buffer.concat([Buffer.alloc(4), body]);
    frame.writeInt32BE(body.length, 0);

    let received = Buffer.alloc(0);
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(frame));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 10) return;
      const correlationId = received.readInt32BE(4);
      const errorCode = received.readInt16BE(8);
      done(correlationId === 4242 && errorCode === 0);
    });
  });
}
