/**
 * Deterministic, versioned bytes for a KcGraph. Everything in the graph (nodes, frequencies, edges,
 * weights) derives from its seeds, so the payload is the seed table in canonical order: KC ids
 * sorted, seeds sorted by id, each seed's KCs as ascending indices into the KC table. The same
 * content therefore gives identical bytes whatever order the seeds arrived in.
 *
 * Layout: "GRIPKCG" magic, format version byte, varint KC count, KC ids, varint seed count, seeds
 * (id, varint k, k varint KC indices), then a 4-byte FNV-1a checksum of everything before it.
 */
import { ByteReader, ByteWriter } from './bytes.ts';
import { KcGraph } from './kc-graph.ts';

const MAGIC = 'GRIPKCG';
export const GRAPH_FORMAT_VERSION = 1;

export function serializeGraph(graph: KcGraph): Uint8Array {
  const seeds = [...graph.seeds()].sort((a, b) => compare(a[0], b[0]));
  const kcIds = [...new Set(seeds.flatMap(([, kcs]) => kcs))].sort(compare);
  const position = new Map(kcIds.map((id, i) => [id, i] as const));
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode(MAGIC));
  w.u8(GRAPH_FORMAT_VERSION);
  w.varint(kcIds.length);
  for (const id of kcIds) w.string(id);
  w.varint(seeds.length);
  for (const [seedId, kcs] of seeds) {
    w.string(seedId);
    w.varint(kcs.length);
    for (const id of kcs) w.varint(position.get(id) as number);
  }
  return w.finishWithChecksum();
}

export function restoreGraph(bytes: Uint8Array): KcGraph {
  const r = new ByteReader(bytes, 'restoreGraph', MAGIC, GRAPH_FORMAT_VERSION);
  const kcCount = r.varint();
  const kcIds: string[] = [];
  for (let i = 0; i < kcCount; i++) kcIds.push(r.string());
  const seedCount = r.varint();
  const graph = new KcGraph();
  for (let s = 0; s < seedCount; s++) {
    const seedId = r.string();
    const k = r.varint();
    if (k === 0) throw new Error(`restoreGraph: seed ${JSON.stringify(seedId)} has no KCs`);
    const kcs: string[] = [];
    for (let j = 0; j < k; j++) {
      const p = r.varint();
      if (p >= kcCount) throw new Error(`restoreGraph: seed ${JSON.stringify(seedId)} refers to KC #${p} of ${kcCount}`);
      kcs.push(kcIds[p]);
    }
    graph.addSeed(seedId, kcs);
  }
  r.done();
  return graph;
}

/** Code-unit order, independent of locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
