/**
 * Error classes of the consumer wrapper. What to do with a failed message depends only on its class
 * (the kinds of errors.ts, the protocol of retry.ts):
 * - retriable (transient, overload): a dependency is down or slow (model server, broker
 *   connection); retry the same message with backoff and jitter, as long as the stage's patience
 *   allows (a service: for ever, reporting what it waits on), then crash without committing;
 * - configuration: a dependency refuses our settings; a service stops taking messages, reports
 *   degraded and retries until it works (grip run stops and says why); never dead-lettered;
 * - non-retriable (bad input): the message itself is bad (undecodable bytes, a request the model
 *   server refuses); send it to the stage's DLQ with its original bytes and go on;
 * - unknown: a bug or a state we did not foresee; crash, so the offset is never committed and the
 *   message is redelivered after a restart (at-least-once is kept).
 */
import { ClassifiedError, ConfigurationError, DecodeError, NonRetriableError, RetriableError, type FailureKind } from '../errors.ts';
import { isConnectionError } from '../retry.ts';

export { ClassifiedError, ConfigurationError, DecodeError, NonRetriableError, RetriableError, isConnectionError };

export type ErrorClass = 'retriable' | 'non_retriable' | 'configuration' | 'unknown';

export function classifyError(error: unknown): ErrorClass {
  if (error instanceof ClassifiedError) return error.retriable ? 'retriable' : error.kind === 'configuration' ? 'configuration' : 'non_retriable';
  const kafka = kafkaFailureKind(error);
  if (kafka === 'transient') return 'retriable';
  if (kafka === 'configuration') return 'configuration';
  return 'unknown';
}

/**
 * The failure kind of an error met by a Kafka client call: connection problems, timeouts and the
 * broker's retriable answers (no coordinator or leader yet: a broker starting) are transient,
 * an authentication failure is configuration, the rest unknown. @platformatic/kafka reports a call
 * that failed after its own retries as an AggregateError of the attempts' errors: any attempt decides.
 */
export function kafkaFailureKind(error: unknown): FailureKind | undefined {
  if (error instanceof ClassifiedError) return error.kind;
  if (isConnectionError(error)) return 'transient';
  let kind: FailureKind | undefined;
  const visit = (e: unknown, depth: number): void => {
    if (!e || typeof e !== 'object' || depth > 6 || kind === 'configuration') return;
    const node = e as { code?: unknown; canRetry?: unknown; errors?: unknown; cause?: unknown };
    if (node.code === 'PLT_KFK_AUTHENTICATION') kind = 'configuration';
    else if (node.code === 'PLT_KFK_NETWORK' || node.code === 'PLT_KFK_TIMEOUT' || (node.code === 'PLT_KFK_PROTOCOL' && node.canRetry === true)) kind = 'transient';
    if (Array.isArray(node.errors)) for (const inner of node.errors) visit(inner, depth + 1);
    visit(node.cause, depth + 1);
  };
  visit(error, 0);
  return kind;
}

/** dlq-reason for a non-retriable error. */
export function dlqReasonOf(error: unknown): string {
  if (error instanceof ClassifiedError) return error.reason;
  return 'non_retriable_error';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
