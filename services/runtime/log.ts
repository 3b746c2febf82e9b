/** Structured logs: one JSON object per line on stderr, the format every service and stage writes. */
export type LogLevel = 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** A logger whose lines carry `service` when given; bigints (Kafka offsets) are written as strings. */
export function jsonLogger(service?: string, out: NodeJS.WritableStream = process.stderr): Logger {
  return (level, message, fields) =>
    void out.write(`${JSON.stringify({ time: new Date().toISOString(), level, ...(service ? { service } : {}), message, ...fields }, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}\n`);
}
