/**
 * The pipeline, declared once: every service in the order data flows. Everything that used to be a
 * list of its own derives from here: service names and ports, consumer groups, the LLM steps (and
 * so the GRIP_LLM_<STEP>_* variables and `llm.stages` keys), what `grip services up` starts, what
 * `grip replay` rewinds, and the stages `grip run` runs in one process. Adding a stage is adding
 * its declaration (services/<name>/stage.ts) to this list; schemas/topics.yaml says which topics it
 * reads and writes, and test/unit/schemas/catalog-ownership.test.ts checks that both agree.
 */
import { loadTopics, storedTopics } from '../schemas/catalog.ts';
import { ConfigError, llmStepVar, servicePortOf, servicePortVar, ENV_VARS, type EnvVarDoc, type GripConfig } from './runtime/config.ts';
import { groupOf, sinkGroupOf, type Declaration, type StageDeclaration } from './runtime/stage.ts';
import { conceptExtractor } from './concept-extractor/stage.ts';
import { conceptGraph } from './concept-graph/stage.ts';
import { problemSynth } from './problem-synth/stage.ts';
import { judge } from './judge/stage.ts';
import { seedIngest } from './seed-ingest/stage.ts';
import { clickhouseSink } from './clickhouse-sink/stage.ts';
import { dashboard } from './dashboard/stage.ts';

/** The consumer stages, upstream first: what `grip run` runs, in this order. */
export const PIPELINE_STAGES: readonly StageDeclaration[] = [conceptExtractor, conceptGraph, problemSynth, judge];

/** Every service `grip services up` starts, upstream first. */
export const SERVICES: readonly Declaration[] = [seedIngest, ...PIPELINE_STAGES, clickhouseSink, dashboard];

export type ServiceName = string;
export const SERVICE_NAMES: readonly string[] = SERVICES.map((s) => s.name);

/** Every LLM step some stage calls, each once, in pipeline order. */
export const LLM_STEPS: readonly string[] = [...new Set(SERVICES.flatMap((s) => s.llmSteps))];

export function declarationOf(name: string): Declaration {
  const found = SERVICES.find((s) => s.name === name);
  if (!found) throw new ConfigError(`unknown service "${name}" (services: ${SERVICE_NAMES.join(', ')})`);
  return found;
}

export function portOf(config: GripConfig, name: string): number {
  return servicePortOf(config, name, declarationOf(name).port);
}

/** The consumer groups of a service and the topic each reads (what a replay rewinds). */
export function consumerGroupsOf(name: string): Array<{ groupId: string; topic: string }> {
  const d = declarationOf(name);
  if (d.kind === 'stage') return [{ groupId: groupOf(d), topic: d.input }];
  if (d.consumes === 'every-topic') {
    const topics = [...storedTopics().map((t) => t.topic), ...[...loadTopics().values()].map((spec) => spec.dlq)];
    return topics.map((topic) => ({ groupId: sinkGroupOf(topic), topic }));
  }
  return d.consumes.map((topic) => ({ groupId: `grip.${d.name}`, topic }));
}

/**
 * GRIP_LLM_<STEP>_* and GRIP_<SERVICE>_PORT variables that name no declared step or service are
 * typos that would silently be ignored: a configuration error, reported at start.
 */
export function checkConfigNames(config: GripConfig): void {
  const unknownSteps = Object.keys(config.llm.steps).filter((step) => !LLM_STEPS.includes(step));
  if (unknownSteps.length > 0) {
    throw new ConfigError(`${unknownSteps.map((s) => `GRIP_LLM_${s.toUpperCase()}_*`).join(', ')}: no such LLM step (steps: ${LLM_STEPS.join(', ')})`);
  }
  const unknownPorts = Object.keys(config.services.portOverrides).filter((name) => !SERVICE_NAMES.includes(name));
  if (unknownPorts.length > 0) {
    throw new ConfigError(`${unknownPorts.map(servicePortVar).join(', ')}: no such service (services: ${SERVICE_NAMES.join(', ')})`);
  }
}

/** Every variable the configuration reads, with the declared ones: for the README and docker-compose. */
export function envVarDocs(): EnvVarDoc[] {
  return [
    ...ENV_VARS,
    ...LLM_STEPS.flatMap((step) =>
      (['BASE_URL', 'MODEL', 'API_KEY'] as const).map((field) => ({
        name: llmStepVar(step, field),
        default: `GRIP_LLM_${field}`,
        description: `${field.toLowerCase().replace('_', ' ')} of the ${step} step`,
      })),
    ),
    ...SERVICES.map((s) => ({ name: servicePortVar(s.name), default: String(s.port), description: `HTTP port of the ${s.name} service` })),
  ];
}
