/**
 * What the judge must remember to decide a new verdict, and nothing more (pure: no I/O).
 *
 * - Settled candidates: the 64-bit hash of each candidate id with a verdict of this configuration
 *   (HashSet64: 16-32 bytes a verdict), so a redelivered candidate gets no second verdict.
 * - Dedup fingerprints: of the seeds (references) and of the accepted problems (the deduper's
 *   bounded LSH stores, about 1.6 KB a problem measured with its ids; the oldest evicted past capacity).
 * Never the texts of verdicts.
 *
 * Two layers, so that a checkpoint is exact: the log layer holds only what was read from
 * grip.seeds and grip.verdicts (checkpointed with the positions it covers); the pending layer holds
 * the verdicts this process settled but has not read back from grip.verdicts yet (their sends may
 * still fail). Every check looks at both; a verdict read back moves from pending to the log layer.
 */
import { HashSet64, idHash } from '../../core/combos/index.ts';
import { Deduper, estimatedJaccard, type DedupResult, type DeduperOptions, type Fingerprint } from '../../core/dedup/index.ts';
import type { Verdict } from '../../schemas/generated/types.ts';
import { commitVerdict } from './handler.ts';

export const JUDGE_STATE_FORMAT = 'judge-state.v1';

export class JudgeState {
  private readonly settled: HashSet64;
  private readonly deduper: Deduper;
  private readonly pendingCandidates = new Set<string>();
  /** Accepted here, not read back yet: verdict id -> fingerprint of its problem. */
  private readonly pendingAccepted = new Map<string, Fingerprint>();

  constructor(
    /** judge_config_version: verdicts of other versions are not this state's. */
    readonly version: string,
    dedupOptions: DeduperOptions,
    from?: { settled: HashSet64; deduper: Deduper },
  ) {
    this.settled = from?.settled ?? new HashSet64(1 << 16);
    this.deduper = from?.deduper ?? new Deduper(dedupOptions);
  }

  get settledCount(): number {
    return this.settled.size;
  }

  get pendingCount(): number {
    return this.pendingCandidates.size;
  }

  dedupStats() {
    return { ...this.deduper.stats(), settledTableBytes: this.settled.bytes };
  }

  isSettled(candidateId: string): boolean {
    return this.pendingCandidates.has(candidateId) || this.settled.has(...idHash(candidateId));
  }

  /** A problem against the seeds and everything accepted, read back or pending. */
  check(text: string): DedupResult {
    const fp = this.deduper.fingerprint(text);
    const logged = this.deduper.checkFingerprint(fp);
    if ((logged.duplicate && logged.kind === 'exact') || this.pendingAccepted.size === 0) return logged;
    for (const [id, p] of this.pendingAccepted) if (p.key === fp.key) return { duplicate: true, kind: 'exact', matchId: id, similarity: 1, against: 'accepted' };
    if (fp.empty) return logged;
    let best = logged;
    const { threshold, numPerm } = this.deduper.options;
    for (const [id, p] of this.pendingAccepted) {
      if (p.empty) continue;
      const similarity = estimatedJaccard(p.sig, 0, fp.sig, numPerm);
      if (similarity >= threshold && (!best.duplicate || similarity > best.similarity)) best = { duplicate: true, kind: 'near', matchId: id, similarity, against: 'accepted' };
    }
    return best;
  }

  /** The ordered step: the verdict's final dedup (commitVerdict), then it is settled here (pending). */
  settle(verdict: Verdict): Verdict {
    const committed = commitVerdict(verdict, { check: (text) => this.check(text), add: (id, text) => void this.pendingAccepted.set(id, this.deduper.fingerprint(text)) });
    this.pendingCandidates.add(verdict.candidate_id);
    return committed;
  }

  /** A seed read from grip.seeds. */
  applySeed(seedId: string, problem: string): void {
    this.deduper.addReference(seedId, problem);
  }

  /** A verdict read from grip.verdicts (written by this process or any before it). */
  applyVerdict(v: Pick<Verdict, 'judge_config_version' | 'candidate_id' | 'verdict_id' | 'accepted' | 'problem'>): void {
    if (v.judge_config_version !== this.version) return;
    this.settled.add(...idHash(v.candidate_id));
    this.pendingCandidates.delete(v.candidate_id);
    this.pendingAccepted.delete(v.verdict_id);
    if (v.accepted) this.deduper.add(v.verdict_id, v.problem);
  }

  /** The log layer as checkpoint sections (the pending layer is never written). */
  exportSections(): Record<string, Uint8Array> {
    const settled = this.settled.sorted();
    return { settled: new Uint8Array(settled.buffer, settled.byteOffset, settled.byteLength), ...this.deduper.exportSections('dedup') };
  }

  static importSections(version: string, dedupOptions: DeduperOptions, sections: Record<string, Uint8Array>): JudgeState {
    const raw = sections.settled;
    if (!raw || raw.byteLength % 8 !== 0) throw new Error(`judge state: settled section of ${raw?.byteLength ?? 'no'} bytes, expected a multiple of 8`);
    const hashes = new BigUint64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const settled = new HashSet64(hashes.length);
    for (const h of hashes) settled.add(Number(h >> 32n), Number(h & 0xffffffffn));
    return new JudgeState(version, dedupOptions, { settled, deduper: Deduper.importSections(dedupOptions, sections, 'dedup') });
  }
}
