import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createJudgingSession,
  decideWithAllAnswers,
  rejectedBeforeJudging,
  withRejection,
  type JudgingRules,
  type JudgingSession,
} from '../../../core/judging/index.ts';

const three = (weights = [1, 1, 1]): JudgingRules => ({
  judges: weights.map((weight, i) => ({ id: `judge_${i + 1}`, weight })),
});

/** Drives a session like a caller would: answer each requested call from the given tables. */
function drive(session: JudgingSession, scores: Record<string, number>, votes: Record<string, boolean>) {
  const asked: string[] = [];
  for (let step = session.next(); step; step = session.next()) {
    asked.push(`${step.phase}:${step.judgeId}`);
    if (step.phase === 'problem') session.recordProblemScore(step.judgeId, scores[step.judgeId]);
    else session.recordSolutionVote(step.judgeId, votes[step.judgeId]);
  }
  return { asked, verdict: session.verdict() };
}

describe('weighted problem score and the threshold', () => {
  it('computes the weighted mean and accepts exactly at 0.85 (inclusive), rejects just below', () => {
    const rules: JudgingRules = { ...three([2, 1, 1]), earlyExit: false };
    const all = { judge_1: true, judge_2: true, judge_3: true };
    // (2*0.9 + 0.8 + 0.8) / 4 = 0.85
    const at = drive(createJudgingSession(rules), { judge_1: 0.9, judge_2: 0.8, judge_3: 0.8 }, all).verdict;
    expect(at.problemScore).toBeCloseTo(0.85, 12);
    expect(at.accepted).toBe(true);
    expect(at.reason).toBe('accepted');
    const below = drive(createJudgingSession(rules), { judge_1: 0.9, judge_2: 0.8, judge_3: 0.799 }, all).verdict;
    expect(below.problemScore).toBeCloseTo(0.84975, 12);
    expect(below.accepted).toBe(false);
    expect(below.reason).toBe('problem_score_below_threshold');
    // The solution is never judged when the problem fails.
    expect(below.judges.every((j) => j.vote === null)).toBe(true);
    expect(below.callsMade).toBe(3);
    expect(below.callsSaved).toBe(3);
  });

  it('honours a configured threshold and rejects invalid weights, thresholds and scores', () => {
    const lenient = drive(createJudgingSession({ ...three(), problemThreshold: 0.5, earlyExit: false }), { judge_1: 0.5, judge_2: 0.5, judge_3: 0.5 }, { judge_1: true, judge_2: true, judge_3: true });
    expect(lenient.verdict.accepted).toBe(true);
    expect(() => createJudgingSession(three([0, 0, 0]))).toThrow(/all zero/);
    expect(() => createJudgingSession(three([1, -1, 1]))).toThrow(/weight of judge_2/);
    expect(() => createJudgingSession({ ...three(), problemThreshold: 1.5 })).toThrow(/problemThreshold/);
    const s = createJudgingSession(three());
    expect(() => s.recordProblemScore('judge_1', 1.2)).toThrow(/judge_1: problem score must be a number in \[0, 1\]/);
    expect(() => s.recordProblemScore('judge_9', 1)).toThrow(/unknown judge judge_9/);
    expect(() => s.recordSolutionVote('judge_1', true)).toThrow(/before the problem passed/);
  });
});

describe('early exit', () => {
  it('stops scoring once the remaining judges cannot reach the threshold, and skips the solution', () => {
    const { asked, verdict } = drive(createJudgingSession(three()), { judge_1: 0.2, judge_2: 1, judge_3: 1 }, {});
    // After 0.2 with two judges left, the best mean is (0.2 + 2) / 3 = 0.733 < 0.85.
    expect(asked).toEqual(['problem:judge_1']);
    expect(verdict.reason).toBe('problem_score_below_threshold');
    expect(verdict.callsMade).toBe(1);
    expect(verdict.callsSaved).toBe(5);
    expect(verdict.problemScoreBounds.max).toBeCloseTo(2.2 / 3, 12);
    expect(verdict.judges.map((j) => j.score)).toEqual([0.2, null, null]);
  });

  it('stops scoring once the remaining judges cannot drop the mean below the threshold', () => {
    // Heaviest first: judge_3 (weight 6) scores 1, then even two zeros give 6/8 < 0.85; one more 1 settles.
    const rules: JudgingRules = { ...three([1, 1, 6]), order: 'weight_desc' };
    const s = createJudgingSession(rules);
    expect(s.next()).toEqual({ phase: 'problem', judgeId: 'judge_3' });
    s.recordProblemScore('judge_3', 1);
    expect(s.next()).toEqual({ phase: 'problem', judgeId: 'judge_1' });
    s.recordProblemScore('judge_1', 1);
    // (6 + 1) / 8 = 0.875 >= 0.85 already, whatever judge_2 says.
    expect(s.next()).toEqual({ phase: 'solution', judgeId: 'judge_3' });
  });

  it('a veto settles the solution at once and names the judge', () => {
    const { asked, verdict } = drive(
      createJudgingSession(three()),
      { judge_1: 1, judge_2: 1, judge_3: 1 },
      { judge_1: true, judge_2: false, judge_3: true },
    );
    expect(asked).toEqual(['problem:judge_1', 'problem:judge_2', 'problem:judge_3', 'solution:judge_1', 'solution:judge_2']);
    expect(verdict.reason).toBe('solution_vetoed_by:judge_2');
    expect(verdict.accepted).toBe(false);
    expect(verdict.callsMade).toBe(5);
    expect(verdict.callsSaved).toBe(1);
    expect(verdict.judges[2].vote).toBeNull();
  });

  it('without early exit every judge of a phase is asked', () => {
    const { asked, verdict } = drive(
      createJudgingSession({ ...three(), earlyExit: false }),
      { judge_1: 1, judge_2: 1, judge_3: 1 },
      { judge_1: false, judge_2: true, judge_3: true },
    );
    expect(asked).toHaveLength(6);
    expect(verdict.reason).toBe('solution_vetoed_by:judge_1');
    expect(verdict.callsSaved).toBe(0);
  });

  it('refuses a verdict before the decision is settled, and counts late answers without changing it', () => {
    const s = createJudgingSession(three());
    s.recordProblemScore('judge_1', 0);
    expect(s.settled).toBe(true);
    s.recordProblemScore('judge_2', 1); // a parallel call that came back late
    const v = s.verdict();
    expect(v.reason).toBe('problem_score_below_threshold');
    expect(v.callsMade).toBe(2);
    const open = createJudgingSession(three());
    expect(() => open.verdict()).toThrow(/not settled/);
  });

  it('property: the early-exit decision equals the full-information decision, and saves calls only when settled', () => {
    const judgeCount = fc.integer({ min: 1, max: 5 });
    fc.assert(
      fc.property(
        judgeCount.chain((n) =>
          fc.record({
            weights: fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: n, maxLength: n }).filter((w) => w.some((x) => x > 0)),
            scores: fc.array(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.85, 1)), { minLength: n, maxLength: n }),
            votes: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            threshold: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(0.85)),
            order: fc.constantFrom('given' as const, 'weight_desc' as const),
          }),
        ),
        ({ weights, scores, votes, threshold, order }) => {
          const rules: JudgingRules = { judges: weights.map((weight, i) => ({ id: `j${i}`, weight })), problemThreshold: threshold, order };
          const scoreBy = Object.fromEntries(scores.map((s, i) => [`j${i}`, s]));
          const voteBy = Object.fromEntries(votes.map((v, i) => [`j${i}`, v]));
          const full = decideWithAllAnswers(rules, scoreBy, voteBy);
          const early = drive(createJudgingSession(rules), scoreBy, voteBy).verdict;
          const exhaustive = drive(createJudgingSession({ ...rules, earlyExit: false }), scoreBy, voteBy).verdict;
          expect(early.accepted).toBe(full.accepted);
          expect(exhaustive.accepted).toBe(full.accepted);
          expect(early.reason.split(':')[0]).toBe(full.reason.split(':')[0]);
          expect(early.callsMade + early.callsSaved).toBe(2 * weights.length);
          expect(early.callsMade).toBeLessThanOrEqual(exhaustive.callsMade);
          if (full.accepted) expect(early.callsMade).toBeGreaterThanOrEqual(weights.length);
        },
      ),
      { numRuns: 2000, seed: 20241211 },
    );
  });
});

describe('rejections outside the judges', () => {
  it('a duplicate or contaminated candidate saves every call', () => {
    const v = rejectedBeforeJudging(three(), 'duplicate');
    expect(v).toMatchObject({ accepted: false, reason: 'duplicate', callsMade: 0, callsSaved: 6, problemPassed: null });
    const judged = drive(createJudgingSession(three()), { judge_1: 1, judge_2: 1, judge_3: 1 }, { judge_1: true, judge_2: true, judge_3: true }).verdict;
    expect(judged.accepted).toBe(true);
    const overridden = withRejection(judged, 'contaminated');
    expect(overridden).toMatchObject({ accepted: false, reason: 'contaminated', callsMade: 6 });
  });
});
