/**
 * Errors that say what to do with the message that met them, whichever client raised them (the
 * LLM client, the Kafka runtime, the ClickHouse writer): `retriable` -> wait and try the same
 * message again; not retriable -> the message itself is bad: to the DLQ with `reason`. Anything
 * else is unknown: the stage crashes without committing, so the message comes back.
 * Transport-neutral on purpose: the Kafka layer classifies these without knowing the LLM client.
 */
export class ClassifiedError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
    /** The dlq-reason when not retriable. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ClassifiedError';
  }
}

/** Throw this from a handler for a dependency failure that may pass. */
export class RetriableError extends ClassifiedError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, true, 'retriable_error', options);
    this.name = 'RetriableError';
  }
}

/** Throw this from a handler for a message that can never succeed; `reason` becomes dlq-reason. */
export class NonRetriableError extends ClassifiedError {
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, false, reason, options);
    this.name = 'NonRetriableError';
  }
}

/** The bytes of a message are not a value of the topic's schema (or not Confluent wire format). */
export class DecodeError extends NonRetriableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('decode_error', message, options);
    this.name = 'DecodeError';
  }
}
