// Vitest reporter: in CI (CI=true) a skipped test is a failure. A test that needs something
// missing (root, FUSE, socat, qemu) reports skipped with the reason in its title, which is right
// on a developer's machine; in CI the machine is supposed to have everything, so a skip means a
// check silently did not run. The run fails and every skipped test is named with its file.
import type { Reporter, TestModule } from 'vitest/node';

/** The full names ("file > describe > test") of the skipped or todo tests of `modules`. */
export function skippedTests(modules: ReadonlyArray<TestModule>): string[] {
  const names: string[] = [];
  for (const m of modules) {
    for (const t of m.children.allTests()) {
      if (t.result().state === 'skipped') names.push(`${m.moduleId.replace(process.cwd() + '/', '')} > ${t.fullName}`);
    }
  }
  return names;
}

export function ciEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

export default class NoSkipsInCi implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (!ciEnabled()) return;
    const skipped = skippedTests(modules);
    if (skipped.length === 0) return;
    process.stderr.write(`\nCI=true: ${skipped.length} skipped test(s) count as failures:\n${skipped.map((s) => `  SKIPPED ${s}\n`).join('')}`);
    process.exitCode = 1;
  }
}
