/**
 * Backfill of seed_similarity (migration 0003): embeds accepted problems that have no row yet for
 * the embeddings model, and their seeds' problems, and stores one row per (verdict, seed, model)
 * with the cosine (the vectors are L2-normalized, so a dot product). Per verdict the figure is the
 * highest similarity over its seeds, as `grip run` computes it. A seed missing from the seeds table
 * gets a row with NULL similarity, so that verdict is not embedded again on every refresh.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { renderQuery, sqlString, type Queries } from './queries.ts';

export interface Embedder {
  embed(texts: string[]): Promise<Float32Array[]>;
}

/** The embeddings endpoint failed: similarity figures are unavailable, the rest of the report is not. */
export class EmbeddingsUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddingsUnavailableError';
  }
}

export interface BackfillOptions {
  db: string;
  judgeConfig: string;
  model: string;
  /** Verdicts per embeddings round (default 128). */
  batchSize?: number;
  /** Stop after this many verdicts in one call, so a refresh stays bounded (default 5000). */
  maxVerdicts?: number;
  now?: () => number;
}

export interface SimilarityRow {
  verdict_id: string;
  seed_id: string;
  model: string;
  similarity: number | null;
  computed_at: string;
  version: number;
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Returns how many verdicts got rows, and whether more were left for a later call. */
export async function backfillSeedSimilarity(
  client: ClickHouseClient,
  queries: Pick<Queries, 'backfill_missing_similarity'>,
  embedder: Embedder,
  opts: BackfillOptions,
): Promise<{ verdicts: number; more: boolean }> {
  const batchSize = opts.batchSize ?? 128;
  const maxVerdicts = opts.maxVerdicts ?? 5000;
  const now = opts.now ?? Date.now;
  let done = 0;
  while (done < maxVerdicts) {
    const limit = Math.min(batchSize, maxVerdicts - done);
    const sql = renderQuery('backfill_missing_similarity', queries.backfill_missing_similarity, {
      db: opts.db,
      judgeConfig: opts.judgeConfig,
      embeddingsModel: opts.model,
      limit,
    });
    const missing = await (await client.query({ query: sql, format: 'JSONEachRow' })).json<{ verdict_id: string; problem: string; lineage_seed_ids: string[] }>();
    if (missing.length === 0) return { verdicts: done, more: false };
    const seedIds = [...new Set(missing.flatMap((v) => v.lineage_seed_ids))];
    const seeds =
      seedIds.length === 0
        ? []
        : await (
            await client.query({
              query: `SELECT seed_id, problem FROM ${opts.db}.seeds FINAL WHERE seed_id IN (${seedIds.map(sqlString).join(', ')})`,
              format: 'JSONEachRow',
            })
          ).json<{ seed_id: string; problem: string }>();
    const seedProblem = new Map(seeds.map((s) => [s.seed_id, s.problem]));
    const found = seedIds.filter((id) => seedProblem.has(id));
    let vectors: Float32Array[];
    try {
      vectors = await embedder.embed([...missing.map((v) => v.problem), ...found.map((id) => seedProblem.get(id)!)]);
    } catch (error) {
      throw new EmbeddingsUnavailableError(String((error as Error)?.message ?? error).split('\n')[0]!);
    }
    const seedVector = new Map(found.map((id, i) => [id, vectors[missing.length + i]!]));
    const at = now();
    const computedAt = new Date(at).toISOString().slice(0, 19).replace('T', ' ');
    const rows: SimilarityRow[] = [];
    missing.forEach((v, i) => {
      const ids = v.lineage_seed_ids.length > 0 ? v.lineage_seed_ids : [''];
      for (const seedId of ids) {
        const sv = seedVector.get(seedId);
        rows.push({ verdict_id: v.verdict_id, seed_id: seedId, model: opts.model, similarity: sv ? dot(vectors[i]!, sv) : null, computed_at: computedAt, version: at });
      }
    });
    await client.insert({ table: `${opts.db}.seed_similarity`, values: rows, format: 'JSONEachRow' });
    done += missing.length;
    if (missing.length < limit) return { verdicts: done, more: false };
  }
  return { verdicts: done, more: true };
}
