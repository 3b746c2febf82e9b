/**
 * The paper's multi-model supervision rule, with early exit.
 *
 *  - Problem: each judge scores 0-1; the weighted mean (weights e.g. by each judge's math ability) must be
 *    >= problemThreshold (0.85, INCLUSIVE; a 1e-9 tolerance absorbs float rounding of the mean).
 *  - Solution: each judge votes approve/reject; every judge must approve. It is judged only if the
 *    problem passed.
 *
 * A JudgingSession is fed one answer at a time. After each answer it knows whether the decision is
 * settled: the problem is settled once the remaining judges (at score 0 or 1) can no longer move the
 * weighted mean across the threshold; the solution is settled by the first veto. The caller asks
 * `next()` which call to make, and skips the rest once it returns null. Per candidate the budget is
 * (judges for the problem) + (judges for the solution), 3 + 3 in the paper; calls not made are saved.
 */

export interface JudgeSpec {
  id: string;
  /** Non-negative; not all zero. */
  weight: number;
}

export interface JudgingRules {
  judges: JudgeSpec[];
  /** Default 0.85, inclusive. */
  problemThreshold?: number;
  /** Order in which judges are asked: as given, or heaviest first (settles sooner). Default 'given'. */
  order?: 'given' | 'weight_desc';
  /** When false every judge of a phase is asked (a problem rejection still skips the solution phase). */
  earlyExit?: boolean;
}

export type JudgingPhase = 'problem' | 'solution';
export interface JudgingStep {
  phase: JudgingPhase;
  judgeId: string;
}

/** Why a candidate was turned away before any judge was asked (`gate:<name>`: core/gates). */
export type PreJudgingReason = 'duplicate' | 'contaminated' | 'self_consistency' | `gate:${string}`;
export type RejectionReason = 'problem_score_below_threshold' | `solution_vetoed_by:${string}` | PreJudgingReason;

export interface JudgeRecord {
  id: string;
  weight: number;
  /** null: not asked. */
  score: number | null;
  vote: boolean | null;
}

export interface JudgingVerdict {
  accepted: boolean;
  reason: 'accepted' | RejectionReason;
  /** Weighted mean over the judges that answered (all of them unless the decision settled early); null if none did. */
  problemScore: number | null;
  /** The final weighted mean is known to lie in [min, max]. */
  problemScoreBounds: { min: number; max: number };
  /** null when the problem was never judged (rejected before judging). */
  problemPassed: boolean | null;
  /** In the order the rules list the judges. */
  judges: JudgeRecord[];
  callsMade: number;
  callsSaved: number;
  budget: number;
}

export const SCORE_EPSILON = 1e-9;

interface Resolved {
  judges: JudgeSpec[];
  asked: JudgeSpec[];
  threshold: number;
  earlyExit: boolean;
  totalWeight: number;
}

export function validateRules(rules: JudgingRules): Resolved {
  if (!rules || !Array.isArray(rules.judges) || rules.judges.length === 0) throw new RangeError('judging rules: at least one judge is required');
  const ids = new Set<string>();
  let totalWeight = 0;
  for (const j of rules.judges) {
    if (!j || typeof j.id !== 'string' || j.id === '') throw new TypeError(`judging rules: judge without an id: ${JSON.stringify(j)}`);
    if (ids.has(j.id)) throw new RangeError(`judging rules: judge id ${j.id} appears twice`);
    ids.add(j.id);
    if (typeof j.weight !== 'number' || !Number.isFinite(j.weight) || j.weight < 0) {
      throw new RangeError(`judging rules: weight of ${j.id} must be a finite number >= 0, got ${j.weight}`);
    }
    totalWeight += j.weight;
  }
  if (totalWeight <= 0) throw new RangeError('judging rules: judge weights are all zero');
  const threshold = rules.problemThreshold ?? 0.85;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) {
    throw new RangeError(`judging rules: problemThreshold must be in [0, 1], got ${threshold}`);
  }
  const order = rules.order ?? 'given';
  if (order !== 'given' && order !== 'weight_desc') throw new RangeError(`judging rules: order must be 'given' or 'weight_desc', got ${order}`);
  const judges = rules.judges.map((j) => ({ id: j.id, weight: j.weight }));
  // Stable sort: equal weights keep their given order.
  const asked = order === 'weight_desc' ? [...judges].sort((a, b) => b.weight - a.weight) : judges;
  return { judges, asked, threshold, earlyExit: rules.earlyExit ?? true, totalWeight };
}

/** Full-information decision (every score and vote known): the reference the early exit must agree with. */
export function decideWithAllAnswers(
  rules: JudgingRules,
  scores: Record<string, number>,
  votes: Record<string, boolean>,
): { accepted: boolean; reason: 'accepted' | RejectionReason } {
  const r = validateRules(rules);
  let sum = 0;
  for (const j of r.asked) sum += j.weight * checkScore(j.id, scores[j.id]);
  if (!(sum >= (r.threshold - SCORE_EPSILON) * r.totalWeight)) return { accepted: false, reason: 'problem_score_below_threshold' };
  for (const j of r.asked) if (!checkVote(j.id, votes[j.id])) return { accepted: false, reason: `solution_vetoed_by:${j.id}` };
  return { accepted: true, reason: 'accepted' };
}

function checkScore(judgeId: string, score: unknown): number {
  if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) {
    throw new RangeError(`judge ${judgeId}: problem score must be a number in [0, 1], got ${JSON.stringify(score)}`);
  }
  return score;
}

function checkVote(judgeId: string, vote: unknown): boolean {
  if (vote === true || vote === 1) return true;
  if (vote === false || vote === 0) return false;
  throw new RangeError(`judge ${judgeId}: solution vote must be true/false or 1/0, got ${JSON.stringify(vote)}`);
}

export class JudgingSession {
  private readonly r: Resolved;
  private readonly scores = new Map<string, number>();
  private readonly votes = new Map<string, boolean>();
  private weightedSum = 0;
  private answeredWeight = 0;
  private problemDecision: boolean | null = null;
  private solutionDecision: boolean | null = null;
  private vetoBy: string | null = null;

  constructor(rules: JudgingRules) {
    this.r = validateRules(rules);
    this.settleProblem(); // a threshold of 0 is settled before any call
  }

  get phase(): JudgingPhase | 'settled' {
    if (this.problemDecision === null) return 'problem';
    if (this.problemDecision && this.solutionDecision === null) return 'solution';
    return 'settled';
  }

  get settled(): boolean {
    return this.phase === 'settled';
  }

  /** The next call to make, or null when the decision is settled. */
  next(): JudgingStep | null {
    const phase = this.phase;
    if (phase === 'settled') return null;
    const done = phase === 'problem' ? this.scores : this.votes;
    const judge = this.r.asked.find((j) => !done.has(j.id))!;
    return { phase, judgeId: judge.id };
  }

  recordProblemScore(judgeId: string, score: number): void {
    const judge = this.judge(judgeId);
    if (this.scores.has(judgeId)) throw new Error(`judge ${judgeId} already scored this problem`);
    const s = checkScore(judgeId, score);
    this.scores.set(judgeId, s);
    this.weightedSum += judge.weight * s;
    this.answeredWeight += judge.weight;
    // A late answer (the caller ran judges in parallel) is recorded and counted; it cannot change a settled decision.
    if (this.problemDecision === null) this.settleProblem();
  }

  recordSolutionVote(judgeId: string, vote: boolean | 0 | 1): void {
    this.judge(judgeId);
    if (this.problemDecision !== true) {
      throw new Error(`judge ${judgeId}: solution vote before the problem passed (problem decision: ${this.problemDecision})`);
    }
    if (this.votes.has(judgeId)) throw new Error(`judge ${judgeId} already voted on this solution`);
    const v = checkVote(judgeId, vote);
    this.votes.set(judgeId, v);
    if (!v && this.vetoBy === null) this.vetoBy = judgeId;
    if (this.solutionDecision !== null) return; // a late vote cannot change a settled decision
    const allVoted = this.votes.size === this.r.judges.length;
    if (this.r.earlyExit && this.vetoBy !== null) this.solutionDecision = false;
    else if (allVoted) this.solutionDecision = this.vetoBy === null;
  }

  verdict(): JudgingVerdict {
    if (this.phase !== 'settled') {
      throw new Error(`judging not settled yet: next call is ${JSON.stringify(this.next())}`);
    }
    const accepted = this.problemDecision === true && this.solutionDecision === true;
    const reason: JudgingVerdict['reason'] = accepted
      ? 'accepted'
      : this.problemDecision === false
        ? 'problem_score_below_threshold'
        : `solution_vetoed_by:${this.vetoBy}`;
    return {
      accepted,
      reason,
      problemScore: this.answeredWeight > 0 ? this.weightedSum / this.answeredWeight : null,
      problemScoreBounds: this.bounds(),
      problemPassed: this.problemDecision,
      judges: this.r.judges.map((j) => ({ id: j.id, weight: j.weight, score: this.scores.get(j.id) ?? null, vote: this.votes.get(j.id) ?? null })),
      ...this.calls(),
    };
  }

  private calls(): { callsMade: number; callsSaved: number; budget: number } {
    const budget = 2 * this.r.judges.length;
    const callsMade = this.scores.size + this.votes.size;
    return { callsMade, callsSaved: budget - callsMade, budget };
  }

  private bounds(): { min: number; max: number } {
    const W = this.r.totalWeight;
    return { min: this.weightedSum / W, max: Math.min(1, (this.weightedSum + (W - this.answeredWeight)) / W) };
  }

  private settleProblem(): void {
    const { threshold, totalWeight, earlyExit, judges } = this.r;
    const needed = (threshold - SCORE_EPSILON) * totalWeight;
    const remaining = totalWeight - this.answeredWeight;
    const allAnswered = this.scores.size === judges.length;
    if (!earlyExit && !allAnswered) return;
    if (this.weightedSum >= needed) this.problemDecision = true;
    else if (allAnswered || this.weightedSum + remaining < needed) this.problemDecision = false;
  }

  private judge(judgeId: string): JudgeSpec {
    const j = this.r.judges.find((x) => x.id === judgeId);
    if (!j) throw new RangeError(`unknown judge ${judgeId}; judges are ${this.r.judges.map((x) => x.id).join(', ')}`);
    return j;
  }
}

export function createJudgingSession(rules: JudgingRules): JudgingSession {
  return new JudgingSession(rules);
}

/** Verdict for a candidate rejected before any judge was asked (duplicate, contaminated, a gate, self-consistency): all calls saved. */
export function rejectedBeforeJudging(rules: JudgingRules, reason: PreJudgingReason): JudgingVerdict {
  const r = validateRules(rules);
  const budget = 2 * r.judges.length;
  return {
    accepted: false,
    reason,
    problemScore: null,
    problemScoreBounds: { min: 0, max: 1 },
    problemPassed: null,
    judges: r.judges.map((j) => ({ id: j.id, weight: j.weight, score: null, vote: null })),
    callsMade: 0,
    callsSaved: budget,
    budget,
  };
}

/** A judged verdict overridden by a later check (e.g. dedup against what was accepted meanwhile). */
export function withRejection(verdict: JudgingVerdict, reason: 'duplicate' | 'contaminated'): JudgingVerdict {
  return { ...verdict, accepted: false, reason };
}
