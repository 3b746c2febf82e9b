/**
 * Flags of `npm run bench:scale`, validated before anything starts: an unknown flag or a bad value
 * is an error naming it.
 */
export interface ScaleOptions {
  /** 1: the paper's scale (7,500 seeds, 10,000 KCs, 2.1M combinations, candidates and verdicts). */
  scale: number;
  /** Leave the filled topics and tables (and the bench's state folder) in place at the end. */
  keep: boolean;
  /** Results file (relative to the repository root); the run is stored under its scale, the .md beside it. */
  out: string;
  /** Candidates produced after the active judge is killed (the standby must judge them). */
  fresh: number;
  /** HTTP ports of the services the bench starts begin here. */
  portBase: number;
}

export const DEFAULT_OPTIONS: ScaleOptions = { scale: 1, keep: false, out: 'bench/results/scale.json', fresh: 20, portBase: 19_700 };

export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

export function usage(): string {
  return 'usage: npm run bench:scale -- [--scale S] [--keep] [--out FILE] [--fresh N] [--port-base N]\n  --scale 1 is the paper (7,500 seeds, 10,000 KCs, 2,100,000 combinations, candidates and verdicts); --scale 10 ten times that';
}

export function parseOptions(argv: string[]): ScaleOptions {
  const o: ScaleOptions = { ...DEFAULT_OPTIONS };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (flag === '--keep') {
      if (inline !== undefined) throw new OptionsError('--keep takes no value');
      o.keep = true;
      continue;
    }
    if (!['--scale', '--out', '--fresh', '--port-base'].includes(flag)) throw new OptionsError(`unknown flag ${JSON.stringify(argv[i])}\n${usage()}`);
    const raw = inline ?? argv[++i];
    if (raw === undefined || raw.trim() === '') throw new OptionsError(`${flag}: missing value`);
    if (flag === '--out') o.out = raw;
    else if (flag === '--scale') {
      if (!/^\d*\.?\d+$/.test(raw) || Number(raw) <= 0 || Number(raw) > 100) throw new OptionsError(`--scale: expected a number > 0 and <= 100, got ${JSON.stringify(raw)}`);
      o.scale = Number(raw);
    } else {
      if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new OptionsError(`${flag}: expected an integer >= 1, got ${JSON.stringify(raw)}`);
      if (flag === '--fresh') o.fresh = Number(raw);
      else {
        if (Number(raw) > 65_000) throw new OptionsError(`--port-base: expected a port below 65000, got ${raw}`);
        o.portBase = Number(raw);
      }
    }
  }
  return o;
}
