/**
 * Helpers of the stage handlers that call models: lineage of every call, and the line between a
 * model that keeps answering badly (the message goes to the DLQ) and one that is down (retried).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LineageStep } from '../../schemas/generated/types.ts';
import { deterministicId } from '../../core/util/hash.ts';
import { LlmError, type JsonPrompt, type LlmCallResult, type LlmClient } from './llm.ts';
import { dlq, type HandlerResult } from './result.ts';

export { dlq, drop, ok, type HandlerResult } from './result.ts';

/**
 * Runs a handler body and turns a model that keeps answering badly, or a request the server
 * refuses as bad, into a DLQ record. A server that is down, or that refuses our configuration, is
 * re-thrown: the runner retries the message later (or pauses) instead of dead-lettering good input.
 */
export async function dlqOnModelFailure<T>(body: () => Promise<HandlerResult<T>>): Promise<HandlerResult<T>> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof LlmError && error.kind === 'bad_input') return dlq(error.reason, error.message);
    throw error;
  }
}

const lineageScope = new AsyncLocalStorage<LineageStep[]>();

/** Collects the lineage steps of every model call made inside `body`, even from deep callbacks. */
export async function withLineage<T>(body: () => Promise<T>): Promise<{ value: T; steps: LineageStep[] }> {
  const steps: LineageStep[] = [];
  const value = await lineageScope.run(steps, body);
  return { value, steps };
}

/** A structured model call whose lineage step is recorded in the current lineage scope. */
export async function tracedCall<V, A>(llm: LlmClient, stage: string, prompt: JsonPrompt<V, A>, vars: V): Promise<LlmCallResult<A>> {
  const result = await llm.json(stage, prompt, vars);
  lineageScope.getStore()?.push({
    stage,
    model: result.model,
    prompt_version: prompt.version,
    call_id: result.id,
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
  });
  return result;
}

/** A model call a stage may make: its stage (endpoint) and prompt. */
export type PlannedCall = readonly [stage: string, prompt: Pick<JsonPrompt<never, unknown>, 'version' | 'maxTokens'>];

/**
 * An output id made of inputs only: the input's id, and the prompt version, model and sampling
 * settings of every call the stage may make. Never the answers nor call ids (later prompts hold
 * earlier answers): a redelivery on another instance, whose model answers differently, gets the
 * same id and lands on the same row.
 */
export function idFromInputs(kind: string, input: Record<string, string>, llm: Pick<LlmClient, 'callSettings'>, plan: readonly PlannedCall[]): string {
  const calls = plan.map(([stage, prompt]) => llm.callSettings(stage, prompt));
  return deterministicId(kind, calls.map((c) => c.prompt_version).join(','), { ...input, calls });
}
