/**
 * What a web-facing server of ours (seed-ingest's POST /seeds, the dashboard) checks before it
 * answers, and what it must never show. Pure.
 *
 * - Host: only IP literals, `localhost`, this machine's name and GRIP_ALLOWED_HOSTS. A DNS
 *   rebinding attack reaches 127.0.0.1 under the attacker's own name; refusing unknown names stops it.
 * - Origin: a browser sends it with a cross-origin POST (even a no-CORS `text/plain` one); when
 *   present it must name the same host as the Host header. Clients that are not browsers send none.
 * - Token: off loopback, POST /seeds needs `Authorization: Bearer <GRIP_INGEST_TOKEN>`.
 * - URLs shown to users lose their credentials.
 */
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import os from 'node:os';

/** The hostname of a Host header value (`name:port`, `[v6]:port`), lower case; undefined when there is none. */
export function hostnameOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  try {
    return new URL(`http://${hostHeader}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return undefined;
  }
}

export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[], machine = os.hostname().toLowerCase()): boolean {
  const name = hostnameOf(hostHeader);
  if (name === undefined) return false;
  return isIP(name) !== 0 || name === 'localhost' || name === machine || allowed.includes(name);
}

export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host.toLowerCase() === (hostHeader ?? '').toLowerCase();
  } catch {
    return false; // "null" (a sandboxed page, a file://) or garbage
  }
}

/** True when `authorization` carries the token (compared in constant time). */
export function tokenMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A URL without user name, password or secret-looking query parameters. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    for (const name of [...u.searchParams.keys()]) if (/pass|secret|token|key/i.test(name)) u.searchParams.set(name, '***');
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    return '(unparseable URL)';
  }
}

/** `text` with every given secret (passwords, URLs holding credentials) replaced. */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('***');
  return out.replace(/\/\/[^/\s:@]+:[^/\s@]+@/g, '//***@');
}
