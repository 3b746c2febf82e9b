/**
 * judge: candidate -> verdict. The paper's step 6: three judges score the problem (weighted mean
 * kept at >= 0.85) and vote on the solution (one veto rejects), asked one at a time so that a
 * settled decision skips the remaining calls. Before any call, the candidate is checked against
 * the benchmarks (decontamination) and against the seeds and accepted problems (dedup): a copy
 * costs no judge call at all.
 *
 * Before the judges, too: the quality gates (core/gates: model-independent checks for broken
 * pairs, each with its reason `gate:<name>`) and, when `judging.self_consistency` is on, an
 * independent second solve (LLM step `verify`) whose normalized final answer must agree with the
 * candidate's (reason `self_consistency`). A pair rejected by either costs no judge call.
 *
 * Two steps, because acceptance order matters for dedup: `judgeCandidate` makes the model calls
 * and may run concurrently; `commitVerdict` (synchronous, run in input order by the runner) makes
 * the final duplicate check against everything accepted before it and records the acceptance.
 */
import type { DedupResult } from '../../core/dedup/index.ts';
import type { NgramIndex } from '../../core/decontam/index.ts';
import { answersAgree, type NormalizerSpec } from '../../core/answers/index.ts';
import { checkGates, type GateThresholds } from '../../core/gates/index.ts';
import { createJudgingSession, rejectedBeforeJudging, type JudgingRules, type JudgingVerdict } from '../../core/judging/index.ts';
import { PROMPTS, problemJudgement, problemScoreOf, solutionJudgement, type PromptSet } from '../../core/prompts/index.ts';
import { canonicalJson, deterministicId, shortHash } from '../../core/util/hash.ts';
import type { Candidate, Verdict } from '../../schemas/generated/types.ts';
import { dlqOnModelFailure, ok, tracedCall, withLineage, type HandlerResult } from '../runtime/handler.ts';
import type { LlmClient } from '../runtime/llm.ts';
import type { RunSettings } from '../runtime/settings.ts';

export interface JudgeSettings {
  rules: JudgingRules;
  /** A candidate sharing this many consecutive words with a benchmark item is rejected as contaminated. */
  contaminationRejectWords: number;
  /** The near-duplicate check's settings: they decide `duplicate` rejections too. */
  dedup: { threshold: number; seed: number };
  /** The domain pack whose normalizer, gate thresholds and answer-check prompt apply. */
  domain: string;
  /** Quality-gate thresholds; null: gates off. */
  gates: GateThresholds | null;
  normalizer: NormalizerSpec;
  /** An independent second solve must agree with the candidate's final answer before the judges. */
  selfConsistency: boolean;
}

export interface JudgeDeps {
  llm: LlmClient;
  settings: JudgeSettings;
  decontam: NgramIndex | null;
  /** The seeds and the problems accepted so far (the judge's JudgeState, or a bare Deduper). */
  deduper: DedupSet;
  /** Model name per judge stage, for the verdict record. */
  judgeModels: Record<string, string>;
  now: () => number;
  /** The domain's prompts (for the answer check); default: the plain ones. */
  prompts?: PromptSet;
}

/** The judging rules of a settings file (`judging`, `decontamination`, `dedup`, `seed`, `gates` and the domain pack). */
export function judgeSettingsFrom(settings: Pick<RunSettings, 'judging' | 'decontamination' | 'dedup' | 'seed' | 'gates' | 'domainPack'>): JudgeSettings {
  const { gates } = settings;
  return {
    rules: {
      judges: JUDGE_STAGES.map((id) => ({ id, weight: settings.judging.weights[id] })),
      problemThreshold: settings.judging.threshold,
      order: settings.judging.order,
      earlyExit: settings.judging.early_exit,
    },
    contaminationRejectWords: settings.decontamination.reject_at_words,
    dedup: { threshold: settings.dedup.threshold, seed: settings.seed },
    domain: settings.domainPack.name,
    gates: gates.enabled ? { problem_chars: gates.problem_chars, solution_chars: gates.solution_chars, repetition_ngram: gates.repetition_ngram, max_repeated_share: gates.max_repeated_share, max_answer_words: gates.max_answer_words } : null,
    normalizer: settings.domainPack.normalizer,
    selfConsistency: settings.judging.self_consistency,
  };
}

export const JUDGE_STAGES = ['judge_1', 'judge_2', 'judge_3'] as const;

/** Model name per judge stage, for the verdict record. */
export function judgeModelsFrom(settings: Pick<RunSettings, 'endpoints'>): Record<string, string> {
  return Object.fromEntries(JUDGE_STAGES.map((j) => [j, settings.endpoints[j].model]));
}

/**
 * Version of everything that decides a verdict: the rules, reject_at_words, the dedup threshold and
 * seed, the domain, gate thresholds, normalizer and self-consistency, the decontamination sets
 * (sources and content: NgramIndex.fingerprint), the judge models and prompts. A replay with any of
 * them changed makes new verdict ids, so it judges again instead of answering with the old verdicts.
 */
export function judgeConfigVersion(settings: JudgeSettings, judgeModels: Record<string, string>, decontam: Pick<NgramIndex, 'fingerprint'> | null, prompts: PromptSet = PROMPTS): string {
  const decontamination = decontam?.fingerprint() ?? null;
  const answerCheck = settings.selfConsistency ? [prompts.answer_check.version] : [];
  return `j-${shortHash(canonicalJson({ settings, judgeModels, decontamination, prompts: [problemJudgement.version, solutionJudgement.version, ...answerCheck] }), 12)}`;
}

/** Reason of a candidate whose independent second solve disagrees with its final answer. */
export const SELF_CONSISTENCY_REASON = 'self_consistency';
/** The LLM step of the independent second solve (its own endpoint: GRIP_LLM_VERIFY_*). */
export const VERIFY_STAGE = 'verify';

export async function judgeCandidate(candidate: Candidate, deps: JudgeDeps): Promise<HandlerResult<Verdict>> {
  return dlqOnModelFailure(async () => {
    const contamination = deps.decontam?.check(candidate.problem);
    const overlap = contamination?.longestOverlap ?? 0;
    const duplicate = deps.deduper.check(candidate.problem);

    const gate = deps.settings.gates ? checkGates({ problem: candidate.problem, solution: candidate.solution, final_answer: candidate.final_answer ?? '' }, deps.settings.gates, deps.settings.normalizer) : null;

    let judging: JudgingVerdict;
    let steps: Verdict['lineage']['steps'] = [];
    if (overlap >= deps.settings.contaminationRejectWords) {
      judging = rejectedBeforeJudging(deps.settings.rules, 'contaminated');
    } else if (duplicate.duplicate) {
      judging = rejectedBeforeJudging(deps.settings.rules, 'duplicate');
    } else if (gate && !gate.passed) {
      judging = rejectedBeforeJudging(deps.settings.rules, gate.reason!);
    } else {
      const judged = await withLineage(async () => {
        if (deps.settings.selfConsistency) {
          const check = await tracedCall(deps.llm, VERIFY_STAGE, (deps.prompts ?? PROMPTS).answer_check, { problem: candidate.problem });
          if (!answersAgree(check.value.final_answer, candidate.final_answer ?? '', deps.settings.normalizer)) return rejectedBeforeJudging(deps.settings.rules, SELF_CONSISTENCY_REASON);
        }
        const session = createJudgingSession(deps.settings.rules);
        for (let step = session.next(); step; step = session.next()) {
          if (step.phase === 'problem') {
            const { value } = await tracedCall(deps.llm, step.judgeId, problemJudgement, { problem: candidate.problem });
            session.recordProblemScore(step.judgeId, problemScoreOf(value));
          } else {
            const { value } = await tracedCall(deps.llm, step.judgeId, solutionJudgement, { problem: candidate.problem, solution: candidate.solution });
            session.recordSolutionVote(step.judgeId, value.vote as 0 | 1);
          }
        }
        return session.verdict();
      });
      judging = judged.value;
      steps = judged.steps;
    }
    return ok(toVerdict(candidate, judging, deps, {
      overlap,
      match: contamination?.match ? `${contamination.match.source}:${contamination.match.id}` : null,
      duplicateOf: duplicate.duplicate ? duplicate.matchId : null,
      steps,
    }));
  });
}

/**
 * Final, ordered step: an accepted verdict whose problem duplicates one accepted before it becomes
 * a `duplicate` rejection; otherwise the accepted problem joins the dedup set.
 */
export interface DedupSet {
  check(text: string): DedupResult;
}

export function commitVerdict(verdict: Verdict, deduper: DedupSet & { add(id: string, text: string): void }): Verdict {
  if (!verdict.accepted) return verdict;
  const result = deduper.check(verdict.problem);
  // Its own earlier acceptance (a copy judged before) is not a duplicate: a verdict never rejects itself.
  if (result.duplicate && result.matchId !== verdict.verdict_id) return { ...verdict, accepted: false, reason: 'duplicate', duplicate_of: result.matchId };
  deduper.add(verdict.verdict_id, verdict.problem);
  return verdict;
}

function toVerdict(
  candidate: Candidate,
  judging: JudgingVerdict,
  deps: JudgeDeps,
  extra: { overlap: number; match: string | null; duplicateOf: string | null; steps: Verdict['lineage']['steps'] },
): Verdict {
  const version = judgeConfigVersion(deps.settings, deps.judgeModels, deps.decontam, deps.prompts);
  return {
    verdict_id: deterministicId('verdict', version, candidate.candidate_id),
    candidate_id: candidate.candidate_id,
    combo_id: candidate.combo_id,
    judge_config_version: version,
    accepted: judging.accepted,
    reason: judging.reason,
    problem_score: judging.problemScore,
    threshold: deps.settings.rules.problemThreshold ?? 0.85,
    judges: judging.judges.map((j) => ({
      judge: j.id,
      model: deps.judgeModels[j.id] ?? '',
      weight: j.weight,
      problem_score: j.score,
      solution_vote: j.vote === null ? null : j.vote ? 1 : 0,
    })),
    calls_made: judging.callsMade,
    calls_saved: judging.callsSaved,
    duplicate_of: extra.duplicateOf,
    contamination_overlap: extra.overlap,
    contamination_match: extra.match,
    relation: candidate.relation,
    hop: candidate.hop,
    novel: candidate.novel,
    kc_ids: candidate.kc_ids,
    kc_names: candidate.kc_names,
    problem: candidate.problem,
    solution: candidate.solution,
    final_answer: candidate.final_answer,
    difficulty: candidate.difficulty,
    lineage: { ...candidate.lineage, steps: [...candidate.lineage.steps, ...extra.steps] },
    created_at: deps.now(),
  };
}
