/** The Kafka runtime's public surface. */
export * from './transport.ts';
export { platformaticTransport } from './platformatic.ts';
export { InProcessTransport, type InProcessOptions } from './in-process.ts';
export { connectSerde, localSerde, subjectOf, type Serde, type RegistrySerdeOptions } from './serde.ts';
export { ensureTopics, topicsToCreate } from './topics.ts';
export { runStage, type OrderedStep, type StageHandle, type StageOptions, type StageContext, type StageHandler, type StageStats } from './consumer.ts';
export { classifyError, ConfigurationError, DecodeError, NonRetriableError, RetriableError, type ErrorClass } from './errors.ts';
export { dlqRecord, DLQ_HEADERS, REPLAY_FOR_HEADER, replayedForAnotherStage } from './dlq.ts';
export { OffsetTracker } from './offsets.ts';
export { readLog, type LogReader, type LogReaderOptions } from './log-reader.ts';
