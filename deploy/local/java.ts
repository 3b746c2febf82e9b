/** Finds an installed Java runtime of at least a given major version (Kafka needs 17, Apicurio 3.3 needs 21). */
import fs from 'node:fs';
import path from 'node:path';

function majorOf(home: string): number | undefined {
  try {
    const release = fs.readFileSync(path.join(home, 'release'), 'utf8');
    const match = /JAVA_VERSION="(\d+)(?:\.(\d+))?/.exec(release);
    if (!match) return undefined;
    // "1.8.0" style versions mean 8
    return match[1] === '1' ? Number(match[2]) : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** Candidate JDK/JRE homes: JAVA_HOME first, then everything under /usr/lib/jvm. */
function candidateHomes(): string[] {
  const homes: string[] = [];
  if (process.env.JAVA_HOME) homes.push(process.env.JAVA_HOME);
  try {
    for (const entry of fs.readdirSync('/usr/lib/jvm')) homes.push(path.join('/usr/lib/jvm', entry));
  } catch {
    /* no system JVMs */
  }
  return homes;
}

/** Path of a `java` binary with major version >= minMajor (the lowest such version), or undefined. */
export function findJava(minMajor: number): string | undefined {
  const found = candidateHomes()
    .map((home) => ({ home, major: majorOf(home), bin: path.join(home, 'bin', 'java') }))
    .filter((c) => c.major !== undefined && c.major >= minMajor && fs.existsSync(c.bin))
    .sort((a, b) => (a.major ?? 0) - (b.major ?? 0));
  return found[0]?.bin;
}
