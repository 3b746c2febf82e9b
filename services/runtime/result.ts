/**
 * What every stage handler returns. A handler is a function from one input message to a typed
 * result; it never touches Kafka, files or ClickHouse. The runners route the result: `ok` values to
 * the next topic, `dlq` records to the stage's dead-letter queue with their reason, `drop` to a
 * counter. (Its own file so that the Kafka layer can route results without knowing the LLM client.)
 */
export type HandlerResult<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'dlq'; reason: string; detail: string }
  | { kind: 'drop'; reason: string };

export const ok = <T>(value: T): HandlerResult<T> => ({ kind: 'ok', value });
export const dlq = <T>(reason: string, detail: string): HandlerResult<T> => ({ kind: 'dlq', reason, detail });
export const drop = <T>(reason: string): HandlerResult<T> => ({ kind: 'drop', reason });
