/**
 * Domain packs: discovered by listing domains/, validated at start (a missing or bad file is an
 * error naming it), and chosen by `domain:` / --domain; seeds in another domain's layout get a
 * suggestion, seeds in no domain's layout an error naming the fields and the flags.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LLM_STEPS } from '../../../services/stages.ts';
import { describe, expect, it } from 'vitest';
import { checkRunInput } from '../../../cli/run/preflight.ts';
import { loadConfig, REPO_ROOT } from '../../../services/runtime/config.ts';
import { DomainError, DOMAINS_DIR, listDomains, loadAllDomains, loadDomain } from '../../../services/runtime/domains.ts';
import { parseRunFile, resolveRunSettings } from '../../../services/runtime/settings.ts';

function copyDomains(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-domains-'));
  fs.cpSync(DOMAINS_DIR, dir, { recursive: true });
  return dir;
}

describe('domain packs', () => {
  it('ship competition-math and grade-school-math, each complete and valid', () => {
    expect(listDomains()).toEqual(expect.arrayContaining(['competition-math', 'grade-school-math']));
    const packs = loadAllDomains();
    for (const p of packs) {
      expect(p.benchmarks.map((b) => b.source)).toEqual(['math', 'math500', 'gsm8k']);
      for (const b of p.benchmarks) expect(fs.existsSync(b.file), b.file).toBe(true);
    }
    const gsm = loadDomain('grade-school-math');
    expect(gsm.seedFields).toEqual({ problem: 'question', solution: 'answer' });
    expect(gsm.normalizer.locations[0]).toBe('hashes');
    expect(gsm.prompts.kc_extraction.version).not.toBe(loadDomain('competition-math').prompts.kc_extraction.version);
  });

  it('a third domain is a new folder: found and loaded with no edit elsewhere', () => {
    const dir = copyDomains();
    fs.cpSync(path.join(dir, 'grade-school-math'), path.join(dir, 'physics-word-problems'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'physics-word-problems', 'prompts.yaml'), fs.readFileSync(path.join(dir, 'physics-word-problems', 'prompts.yaml'), 'utf8').replace('grade-school math word problems', 'physics word problems'));
    expect(listDomains(dir)).toContain('physics-word-problems');
    expect(loadDomain('physics-word-problems', dir).prompts.solution.render({ problem: 'p' })[0].content).toContain('physics word problems');
  });

  it('a missing prompt or normalizer file is a startup error naming the file', () => {
    for (const file of ['prompts.yaml', 'normalizer.yaml', 'domain.yaml']) {
      const dir = copyDomains();
      fs.rmSync(path.join(dir, 'competition-math', file));
      expect(() => loadAllDomains(dir), file).toThrow(DomainError);
      expect(() => loadDomain('competition-math', dir), file).toThrow(new RegExp(`competition-math/${file.replace('.', '\\.')}: missing`));
    }
  });

  it('a bad file is an error naming the file and the field', () => {
    const dir = copyDomains();
    fs.writeFileSync(path.join(dir, 'competition-math', 'normalizer.yaml'), 'locations: [somewhere]\nsteps: []\n');
    expect(() => loadDomain('competition-math', dir)).toThrow(/competition-math\/normalizer\.yaml: normalizer: "locations" must list/);
    fs.writeFileSync(path.join(dir, 'grade-school-math', 'prompts.yaml'), 'subject: x\n');
    expect(() => loadDomain('grade-school-math', dir)).toThrow(/grade-school-math\/prompts\.yaml: .*answer_instruction/);
    expect(() => loadDomain('no-such-domain', dir)).toThrow(/domain "no-such-domain" not found: .*competition-math, grade-school-math/);
  });

  it('are chosen by the `domain` setting or the --domain flag; gate thresholds from the pack, overridable', () => {
    const config = loadConfig({});
    expect(resolveRunSettings(parseRunFile({}), {}, config, LLM_STEPS).domainPack.name).toBe('competition-math');
    expect(resolveRunSettings(parseRunFile({ domain: 'grade-school-math' }), {}, config, LLM_STEPS).domainPack.name).toBe('grade-school-math');
    const flagged = resolveRunSettings(parseRunFile({ domain: 'grade-school-math', gates: { max_answer_words: 9 } }), { domain: 'competition-math' }, config, LLM_STEPS);
    expect(flagged.domainPack.name).toBe('competition-math');
    expect(flagged.gates).toMatchObject({ enabled: true, max_answer_words: 9, repetition_ngram: 3 });
    expect(() => parseRunFile({ gates: { max_repeated_share: 2 } })).toThrow(/gates\.max_repeated_share/);
  });
});

describe('grip run input checks (before any model server)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'grip-preflight-'));
  const write = (name: string, lines: object[]) => {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, lines.map((l) => JSON.stringify(l)).join('\n'));
    return f;
  };
  const settings = (extra: object = {}) => resolveRunSettings(parseRunFile(extra), {}, loadConfig({}), LLM_STEPS);
  const gsmSeed = { question: 'Ann has 3 apples and buys 4 more. How many apples does she have?', answer: 'She has 3 + 4 = <<3+4=7>>7 apples.\n#### 7' };

  it('GSM8K-style seeds with the default domain: an error that names the fields found, the flags and the domain that fits', async () => {
    const file = write('gsm.jsonl', [gsmSeed]);
    await expect(checkRunInput(file, {}, settings(), () => {})).rejects.toThrow(/no field "problem", "solution"; the records have: question, answer\. Map them with --problem-field and --solution-field.*--domain grade-school-math/);
  });

  it('mapped GSM8K-style seeds under competition-math: runs, with a suggestion of the other domain', async () => {
    const file = write('gsm2.jsonl', [gsmSeed]);
    const notes: string[] = [];
    expect(await checkRunInput(file, { problem: 'question', solution: 'answer' }, settings(), (m) => notes.push(m))).toEqual({ problem: 'question', solution: 'answer', id: undefined });
    expect(notes.join('\n')).toMatch(/look like the grade-school-math domain.*--domain grade-school-math/);
    const quiet: string[] = [];
    expect(await checkRunInput(file, {}, settings({ domain: 'grade-school-math' }), (m) => quiet.push(m))).toMatchObject({ problem: 'question', solution: 'answer' });
    expect(quiet).toEqual([]);
  });

  it('seeds in no domain layout: an error naming the fields and the flags', async () => {
    const file = write('odd.jsonl', [{ prompt: 'x', completion: 'y' }]);
    await expect(checkRunInput(file, {}, settings(), () => {})).rejects.toThrow(/the records have: prompt, completion\. Map them with --problem-field and --solution-field \(and --id-field\)\.$/);
  });

  it('a missing seed file or decontamination set is an error', async () => {
    await expect(checkRunInput(path.join(tmp, 'none.jsonl'), {}, settings(), () => {})).rejects.toThrow(/no such seed file/);
    const file = write('ok.jsonl', [{ problem: 'p', solution: '\\boxed{1}' }]);
    const s = settings({ decontamination: { sets: [{ source: 'mine', file: path.join(tmp, 'missing.jsonl'), text_field: 'q' }] } });
    await expect(checkRunInput(file, {}, s, () => {})).rejects.toThrow(/decontamination set mine: .*missing\.jsonl not found/);
    expect(path.relative(REPO_ROOT, settings().benchmarks[0].file)).toBe('data/benchmarks/math/test.jsonl.gz');
  });
});
