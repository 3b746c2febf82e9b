/**
 * Input checks of `grip run` that need no model: done before any model server is started, so a
 * wrong path or field mapping costs seconds, not a server start. The seed file must be readable and
 * its first record must have the mapped fields; every decontamination set must exist. When the
 * seeds look like another domain's layout (GSM8K's question/answer with "####" while the domain is
 * competition-math, say), a suggestion names that domain.
 */
import fs from 'node:fs';
import type { FieldMapping } from '../../core/seeds/index.ts';
import { BenchmarkFileError } from '../../services/runtime/benchmarks.ts';
import { domainOfRecord, loadAllDomains, type DomainPack } from '../../services/runtime/domains.ts';
import type { RunSettings } from '../../services/runtime/settings.ts';
import { textLines } from '../../services/runtime/text-files.ts';
import { SeedFileError } from './seeds-file.ts';

/** The first JSON record of a JSONL seed file (CSV: the header as field names), or null for an empty file. */
async function firstRecord(file: string): Promise<Record<string, unknown> | null> {
  const lines = textLines(file);
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      if (/\.csv(\.gz)?$/i.test(file)) return Object.fromEntries(line.split(',').map((h) => [h.replace(/^"|"$/g, ''), '']));
      try {
        const value = JSON.parse(line) as unknown;
        if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
      } catch {
        // A malformed line: the run reports it with its line number; look at the next one.
      }
    }
    return null;
  } finally {
    lines.close();
  }
}

/**
 * The field mapping to use: the flags where given, else the domain's seed layout. Throws a
 * SeedFileError naming the fields found and the flags when the mapping matches nothing.
 */
export async function checkRunInput(
  seedsFile: string,
  flags: { problem?: string; solution?: string; id?: string },
  settings: RunSettings,
  warn: (message: string) => void,
): Promise<FieldMapping> {
  if (!fs.existsSync(seedsFile)) throw new SeedFileError(`${seedsFile}: no such seed file`);
  try {
    fs.accessSync(seedsFile, fs.constants.R_OK);
  } catch {
    throw new SeedFileError(`${seedsFile}: not readable`);
  }
  for (const b of settings.benchmarks) {
    if (!fs.existsSync(b.file)) throw new BenchmarkFileError(`decontamination set ${b.source}: ${b.file} not found (named in the settings; remove it from decontamination.sets, or set sets: [] to run without decontamination)`);
    if (b.idsFile && !fs.existsSync(b.idsFile)) throw new BenchmarkFileError(`decontamination set ${b.source}: id file ${b.idsFile} not found`);
  }
  const domain = settings.domainPack;
  const fields: FieldMapping = { problem: flags.problem ?? domain.seedFields.problem, solution: flags.solution ?? domain.seedFields.solution, id: flags.id };
  const record = await firstRecord(seedsFile);
  if (record === null) return fields; // nothing valid to map: the run says so with line numbers
  const missing = [fields.problem, fields.solution, ...(fields.id ? [fields.id] : [])].filter((f) => !(f in record));
  const packs: DomainPack[] = loadAllDomains();
  const likely = domainOfRecord(record, packs);
  if (missing.length > 0) {
    throw new SeedFileError(
      `${seedsFile}: ${likely ? `the field mapping of domain ${domain.name} does not match the seeds` : "the seeds match no domain's layout"}: no field ${missing.map((m) => `"${m}"`).join(', ')}; ` +
        `the records have: ${Object.keys(record).join(', ')}. Map them with --problem-field and --solution-field (and --id-field)` +
        (likely ? `, or use --domain ${likely.name} (its layout: ${likely.seedFields.problem}/${likely.seedFields.solution}).` : '.'),
    );
  }
  if (likely && likely.name !== domain.name) {
    warn(`the seeds look like the ${likely.name} domain (${likely.description}); this run uses ${domain.name}. Try --domain ${likely.name}.`);
  }
  return fields;
}
