/**
 * Phase g: the disk each topic and each table takes. Topics: the broker's own account of its log
 * directories (DescribeLogDirs, through the Kafka client's admin: the log segments' bytes) and,
 * where the local stack's log directory is on this machine, the blocks its partition folders take
 * (segments and indexes). Tables:
 * ClickHouse's system.parts (active parts), with the compressed and uncompressed sizes.
 * Also the free space of the file system, and the estimate the bench checks before filling.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Admin } from '@platformatic/kafka';
import { loadTopics } from '../../schemas/catalog.ts';
import { stackPaths } from '../../deploy/local/paths.ts';
import type { GripConfig } from '../../services/runtime/config.ts';
import { round, type ScaleContext } from './context.ts';

/**
 * Disk per combination (its pair, candidate and verdict), a little over what the paper-scale run
 * measured (bench/results/scale.json, 2026-12-08): Kafka 12.02 GB (uncompressed records: 5,724 B a
 * combination), ClickHouse 4.86 GB (2,314 B).
 */
const KAFKA_BYTES_PER_COMBINATION = 5_900;
const CLICKHOUSE_BYTES_PER_COMBINATION = 2_400;

/** Bytes a run of these sizes adds to the disk (Kafka logs + ClickHouse parts); an estimate for the up-front check. */
export function estimatedBytes(combinations: number): number {
  return combinations * (KAFKA_BYTES_PER_COMBINATION + CLICKHOUSE_BYTES_PER_COMBINATION);
}

/** The file system holding `dir`, as `df` shows it: used / (used + available) is its Use%. */
export function diskSpace(dir: string): { size_gb: number; used_gb: number; available_gb: number; used_share: number } {
  const s = fs.statfsSync(dir);
  const used = (s.blocks - s.bfree) * s.bsize;
  const available = s.bavail * s.bsize;
  return { size_gb: round((s.blocks * s.bsize) / 1e9), used_gb: round(used / 1e9), available_gb: round(available / 1e9), used_share: round(used / (used + available), 3) };
}

/** The broker's log directory of the local stack (server.properties' log.dirs), if this machine has it. */
function kafkaLogDir(config: GripConfig): string | null {
  const data = stackPaths(config).data('kafka');
  try {
    const props = fs.readFileSync(path.join(data, 'server.properties'), 'utf8');
    const dirs = /^log\.dirs=(.*)$/m.exec(props)?.[1]?.trim();
    if (dirs) return dirs.split(',')[0]!;
  } catch {
    // not the local stack
  }
  return fs.existsSync(path.join(data, 'logs')) ? path.join(data, 'logs') : null;
}

/** Blocks the files of a folder take on disk (Kafka preallocates its index files sparse: their size says little). */
function folderBlocks(dir: string): number {
  let bytes = 0;
  for (const name of fs.readdirSync(dir)) {
    const s = fs.statSync(path.join(dir, name));
    if (s.isFile()) bytes += s.blocks * 512;
  }
  return bytes;
}

export async function topicSizes(ctx: ScaleContext) {
  const topics = [...loadTopics().values()].flatMap((s) => [s.topic, s.dlq]);
  const partitions = new Map((await ctx.admin.describeTopics(topics.filter(Boolean))).map((t) => [t.topic, t.partitions]));
  const out: Record<string, { bytes: number; partitions: number; source: string; blocks_bytes?: number }> = {};
  const admin = new Admin({ clientId: `${ctx.config.kafka.clientId}-scale-bench`, bootstrapBrokers: ctx.config.kafka.bootstrapServers });
  try {
    const described = await admin.describeLogDirs({ topics: [...partitions].map(([name, n]) => ({ name, partitions: Array.from({ length: n }, (_, i) => i) })) });
    for (const broker of described) {
      for (const dir of broker.results) {
        for (const t of dir.topics) {
          const entry = (out[t.name] ??= { bytes: 0, partitions: 0, source: 'broker (DescribeLogDirs)' });
          for (const p of t.partitions) {
            entry.bytes += Number(p.partitionSize);
            entry.partitions++;
          }
        }
      }
    }
  } catch {
    // the broker did not answer DescribeLogDirs: the folders of the local stack
  } finally {
    await admin.close().catch(() => undefined);
  }
  const dir = kafkaLogDir(ctx.config);
  if (dir && fs.existsSync(dir)) {
    for (const [topic, n] of partitions) {
      let blocks = 0;
      for (let p = 0; p < n; p++) {
        const folder = path.join(dir, `${topic}-${p}`);
        if (fs.existsSync(folder)) blocks += folderBlocks(folder);
      }
      const entry = out[topic];
      if (entry) entry.blocks_bytes = blocks;
      else out[topic] = { bytes: blocks, partitions: n, source: `blocks of ${dir}`, blocks_bytes: blocks };
    }
  }
  const total = Object.values(out).reduce((s, t) => s + t.bytes, 0);
  return { total_bytes: total, total_gb: round(total / 1e9), log_dir: dir, topics: out };
}

export async function tableSizes(ctx: ScaleContext) {
  const db = ctx.config.clickhouse.database;
  const columns = new Set(
    (await (await ctx.clickhouse.query({ query: `SELECT name FROM system.columns WHERE database = 'system' AND table = 'parts'`, format: 'JSONEachRow' })).json<{ name: string }>()).map((r) => r.name),
  );
  const onDisk = columns.has('bytes_on_disk') ? 'bytes_on_disk' : 'bytes';
  const rows = await (
    await ctx.clickhouse.query({
      query: `SELECT table, sum(rows) AS rows, count() AS parts, sum(${onDisk}) AS bytes_on_disk, sum(data_compressed_bytes) AS compressed, sum(data_uncompressed_bytes) AS uncompressed FROM system.parts WHERE database = '${db}' AND active GROUP BY table ORDER BY table`,
      format: 'JSONEachRow',
    })
  ).json<Record<string, string>>();
  const tables = Object.fromEntries(rows.map((r) => [r.table!, { rows: Number(r.rows), parts: Number(r.parts), bytes_on_disk: Number(r.bytes_on_disk), compressed_bytes: Number(r.compressed), uncompressed_bytes: Number(r.uncompressed) }]));
  const total = Object.values(tables).reduce((s, t) => s + t.bytes_on_disk, 0);
  return { total_bytes: total, total_gb: round(total / 1e9), size_column: onDisk, tables };
}
