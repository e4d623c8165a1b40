// Bundles src/extension.ts (+ vscode-languageclient) into out/extension.js, and the test suite into out/test/.
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['vscode'],
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};
const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'out/extension.js' },
  { ...common, entryPoints: ['test/suite/index.ts'], outfile: 'out/test/suite/index.js', minify: false },
];
if (watch) {
  for (const b of builds) {
    await (await esbuild.context(b)).watch();
  }
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
