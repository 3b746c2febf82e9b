/**
 * Fills one topic through the real serde (Avro, the registry's schema id, the catalog's key) and
 * the transport's producer (idempotent, acks=all, requests split by bytes), a few sends in flight.
 * The time spent making the values is measured apart, so the producer's own rate can be told from
 * the generator's.
 */
import type { KafkaTransport, OutRecord, Serde } from '../../services/runtime/kafka/index.ts';

export interface ProduceFigures {
  topic: string;
  records: number;
  /** Key + value bytes sent. */
  bytes: number;
  seconds: number;
  records_per_s: number;
  mb_per_s: number;
  /** Seconds spent making the values (the generator), inside `seconds`. */
  generate_seconds: number;
  /** Seconds spent encoding (serde), inside `seconds`. */
  encode_seconds: number;
  /** Records per second of encoding and sending alone (seconds less the generator's). */
  records_per_s_without_generator: number;
}

const IN_FLIGHT = 4;

export async function produceTopic(
  transport: KafkaTransport,
  serde: Serde,
  topic: string,
  chunks: Iterable<unknown[]>,
  opts: { signal?: AbortSignal; progress?: (records: number, bytes: number, seconds: number) => void; progressEveryMs?: number } = {},
): Promise<ProduceFigures> {
  const producer = transport.producer();
  const t0 = performance.now();
  let records = 0;
  let bytes = 0;
  let generateMs = 0;
  let encodeMs = 0;
  let lastProgress = t0;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  try {
    const iterator = chunks[Symbol.iterator]();
    for (;;) {
      if (opts.signal?.aborted) throw new Error('interrupted');
      if (failure) throw failure;
      const g0 = performance.now();
      const next = iterator.next();
      generateMs += performance.now() - g0;
      if (next.done) break;
      const e0 = performance.now();
      const out: OutRecord[] = [];
      for (const value of next.value) {
        const key = serde.keyOf(topic, value);
        const encoded = await serde.encode(topic, value);
        bytes += key.length + encoded.length;
        out.push({ topic, key, value: encoded });
      }
      encodeMs += performance.now() - e0;
      records += out.length;
      const send = producer.send(out).catch((error) => void (failure ??= error));
      inFlight.add(send);
      void send.finally(() => inFlight.delete(send));
      while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      const now = performance.now();
      if (opts.progress && now - lastProgress >= (opts.progressEveryMs ?? 15_000)) {
        lastProgress = now;
        opts.progress(records, bytes, (now - t0) / 1000);
      }
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
  } finally {
    await producer.close().catch(() => undefined);
  }
  const seconds = (performance.now() - t0) / 1000;
  const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    topic,
    records,
    bytes,
    seconds: round(seconds, 2),
    records_per_s: round(records / seconds, 0),
    mb_per_s: round(bytes / 2 ** 20 / seconds, 2),
    generate_seconds: round(generateMs / 1000, 2),
    encode_seconds: round(encodeMs / 1000, 2),
    records_per_s_without_generator: round(records / Math.max(0.001, seconds - generateMs / 1000), 0),
  };
}

/** Values in chunks of `size`. */
export function* chunked<T>(values: readonly T[], size = 2000): Generator<T[]> {
  for (let i = 0; i < values.length; i += size) yield values.slice(i, i + size);
}
