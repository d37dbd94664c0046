// Vitest reporter: in CI (CI=true) a skipped test is a failure. A test that needs something
// missing (root, FUSE, socat, qemu) reports skipped with the reason in its title, which is right
// on a developer's machine; in CI the machine is supposed to have everything, so a skip means a
// check silently did not run. The run fails and every skipped test is named with its file.
import type { Reporter, TestModule, Vitest } from 'vitest/node';

/** The full names ("file > describe > test (reason)") of the skipped or todo tests of `modules`. */
export function skippedTests(modules: ReadonlyArray<TestModule>, namePattern?: RegExp): string[] {
  const names: string[] = [];
  for (const m of modules) {
    for (const t of m.children.allTests()) {
      const r = t.result();
      if (r.state !== 'skipped') continue;
      // Left out by -t (someone running a few tests by name), not skipped by the test itself.
      if (namePattern && !namePattern.test(t.fullName)) continue;
      // ctx.skip(reason) keeps the reason in the note; describe.skipIf puts it in the title.
      names.push(`${m.moduleId.replace(process.cwd() + '/', '')} > ${t.fullName}${r.note ? ` (${r.note})` : ''}`);
    }
  }
  return names;
}

export function ciEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

export default class NoSkipsInCi implements Reporter {
  private namePattern: RegExp | undefined;

  onInit(vitest: Vitest): void {
    this.namePattern = vitest.config.testNamePattern;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (!ciEnabled()) return;
    const skipped = skippedTests(modules, this.namePattern);
    if (skipped.length === 0) return;
    process.stderr.write(`\nCI=true: ${skipped.length} skipped test(s) count as failures:\n${skipped.map((s) => `  SKIPPED ${s}\n`).join('')}`);
    process.exitCode = 1;
  }
}
