/**
 * Progress of a run: a bar per stage with counts, rate and ETA plus live totals on a terminal;
 * JSON lines for scripts (--log json); nothing but warnings when quiet (--quiet).
 */
export interface Progress {
  stage(name: string, total: number): void;
  tick(name: string): void;
  total(name: string, value: number): void;
  warn(message: string): void;
  done(): void;
}

interface StageState {
  total: number;
  done: number;
  started: number;
}

export function createProgress(mode: 'bars' | 'json' | 'quiet', stream: NodeJS.WriteStream = process.stderr): Progress {
  const stages = new Map<string, StageState>();
  const totals = new Map<string, number>();
  const tty = mode === 'bars' && stream.isTTY;
  let lastDraw = 0;
  let drawnLines = 0;

  const line = (name: string, s: StageState): string => {
    const elapsed = (Date.now() - s.started) / 1000;
    const rate = elapsed > 0 ? s.done / elapsed : 0;
    const eta = rate > 0 && s.total > s.done ? `${Math.ceil((s.total - s.done) / rate)}s` : s.done >= s.total ? 'done' : '?';
    const width = 24;
    const filled = s.total === 0 ? width : Math.round((s.done / s.total) * width);
    return `${name.padEnd(11)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${s.done}/${s.total} ${rate.toFixed(2)}/s eta ${eta}`;
  };
  const draw = (force = false) => {
    if (!tty || (!force && Date.now() - lastDraw < 200)) return;
    lastDraw = Date.now();
    const out = [...stages].map(([n, s]) => line(n, s));
    out.push(`totals: ${[...totals].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (drawnLines > 0) stream.write(`\x1b[${drawnLines}A`);
    stream.write(out.map((l) => `\x1b[2K${l}\n`).join(''));
    drawnLines = out.length;
  };
  const emit = (event: Record<string, unknown>) => {
    if (mode === 'json') stream.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  };

  return {
    stage(name, total) {
      stages.set(name, { total, done: 0, started: Date.now() });
      emit({ event: 'stage', stage: name, total });
      if (mode === 'bars' && !tty) stream.write(`${name}: ${total} to do\n`);
      draw(true);
    },
    tick(name) {
      const s = stages.get(name);
      if (!s) return;
      s.done++;
      emit({ event: 'progress', stage: name, done: s.done, total: s.total });
      if (mode === 'bars' && !tty && (s.done === s.total || s.done % 10 === 0)) stream.write(`${line(name, s)}\n`);
      draw(s.done === s.total);
    },
    total(name, value) {
      totals.set(name, value);
      emit({ event: 'total', name, value });
      draw(true);
    },
    warn(message) {
      if (mode === 'json') emit({ event: 'warning', message });
      else {
        if (tty && drawnLines > 0) drawnLines = 0; // the warning scrolls the bars away; redraw below it
        stream.write(`warning: ${message}\n`);
      }
    },
    done() {
      draw(true);
    },
  };
}
