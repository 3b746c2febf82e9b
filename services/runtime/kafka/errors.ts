/**
 * Error classes of the consumer wrapper. What to do with a failed message depends only on its class:
 * - retriable: a dependency is down or slow (model server, broker connection); retry the same
 *   message with backoff and jitter, a bounded number of times, then crash without committing;
 * - non-retriable: the message itself is bad (undecodable bytes, a request the model server
 *   refuses); send it to the stage's DLQ with its original bytes and go on;
 * - unknown: a bug or a state we did not foresee; crash, so the offset is never committed and the
 *   message is redelivered after a restart (at-least-once is kept).
 */
import { ClassifiedError, DecodeError, NonRetriableError, RetriableError } from '../errors.ts';

export { ClassifiedError, DecodeError, NonRetriableError, RetriableError };

export type ErrorClass = 'retriable' | 'non_retriable' | 'unknown';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  // @platformatic/kafka: connection lost, request timed out
  'PLT_KFK_NETWORK',
  'PLT_KFK_TIMEOUT',
]);

function isConnectionError(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 5) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  return isConnectionError((error as { cause?: unknown }).cause, depth + 1);
}

export function classifyError(error: unknown): ErrorClass {
  if (error instanceof ClassifiedError) return error.retriable ? 'retriable' : 'non_retriable';
  if (isConnectionError(error)) return 'retriable';
  return 'unknown';
}

/** dlq-reason for a non-retriable error. */
export function dlqReasonOf(error: unknown): string {
  if (error instanceof ClassifiedError) return error.reason;
  return 'non_retriable_error';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
