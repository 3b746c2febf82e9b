/**
 * Errors that say what to do with the message that met them, whichever client raised them (the
 * LLM client, embeddings, the Kafka runtime, the schema registry, the ClickHouse writer). Every
 * one carries a kind (retry.ts: the one retry protocol):
 * - transient / overload: a dependency is down, slow or full: wait and try the same message again
 *   (`retriable`), for as long as it takes in a service;
 * - configuration: the dependency refuses us (401/403/404, a wrong model name, ClickHouse auth):
 *   not the message's fault and not passing by itself: the stage stops taking messages, reports
 *   `degraded` with the reason and retries until it works; nothing is committed or dead-lettered;
 * - bad_input: the message itself can never succeed: to the DLQ with `reason`.
 * Anything else is unknown: the stage crashes without committing, so the message comes back.
 * Transport-neutral on purpose: the Kafka layer classifies these without knowing the LLM client.
 */
export type FailureKind = 'transient' | 'overload' | 'configuration' | 'bad_input';

export class ClassifiedError extends Error {
  /** Wait and retry the same message (transient, overload). */
  readonly retriable: boolean;

  constructor(
    message: string,
    readonly kind: FailureKind,
    /** The dlq-reason for bad input; a label for the others. */
    readonly reason: string,
    options?: { cause?: unknown; dependency?: string },
  ) {
    super(message, options);
    this.name = 'ClassifiedError';
    this.retriable = kind === 'transient' || kind === 'overload';
    this.dependency = options?.dependency;
  }

  /** What failed (`llm http://host/v1 model`, `embeddings ...`, `kafka`, `clickhouse`), when known. */
  readonly dependency: string | undefined;
}

/** Throw this from a handler for a dependency failure that may pass. */
export class RetriableError extends ClassifiedError {
  constructor(message: string, options?: { cause?: unknown; dependency?: string }) {
    super(message, 'transient', 'retriable_error', options);
    this.name = 'RetriableError';
  }
}

/** Throw this from a handler for a message that can never succeed; `reason` becomes dlq-reason. */
export class NonRetriableError extends ClassifiedError {
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, 'bad_input', reason, options);
    this.name = 'NonRetriableError';
  }
}

/** A dependency refuses this service's settings (credentials, model name, database): fix the configuration. */
export class ConfigurationError extends ClassifiedError {
  constructor(dependency: string, message: string, options?: { cause?: unknown }) {
    super(message, 'configuration', 'configuration_error', { ...options, dependency });
    this.name = 'ConfigurationError';
  }
}

/** The bytes of a message are not a value of the topic's schema (or not Confluent wire format). */
export class DecodeError extends NonRetriableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('decode_error', message, options);
    this.name = 'DecodeError';
  }
}
