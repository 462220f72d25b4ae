// The public API of every library entry, as api-extractor reports (docs/api/<entry>.api.md), read
// from the built declaration files (dist/**/*.d.ts; run `pnpm build` first). One report per entry,
// so a type moving between '@natgrad/curvature' and '@natgrad/curvature/kfac' shows too.
//
//   node scripts/api/api-report.mjs          regenerate docs/api/ (pnpm api)
//   node scripts/api/api-report.mjs --check  fail when a report differs from the committed one, or
//                                            when an entry uses a type it does not export (pnpm api:check)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Extractor, ExtractorConfig, ExtractorLogLevel } from '@microsoft/api-extractor';
import { libraryEntries, reportName, root } from './entries.mjs';

const check = process.argv.includes('--check');
const reportFolder = join(root, 'docs', 'api');
const tempFolder = mkdtempSync(join(tmpdir(), 'natgrad-api-'));
mkdirSync(reportFolder, { recursive: true });

// What api-extractor reports as errors here: a type the public API uses but the entry does not
// export (a consumer cannot name it, and declaration emit in a consumer may fail with TS2742), and
// a changed report in --check mode. Release tags and TSDoc style are not this project's convention.
const messages = {
  compilerMessageReporting: { default: { logLevel: 'error' } },
  extractorMessageReporting: {
    default: { logLevel: 'warning', addToApiReportFile: false },
    'ae-forgotten-export': { logLevel: 'error', addToApiReportFile: false },
    'ae-missing-release-tag': { logLevel: 'none', addToApiReportFile: false },
    'ae-internal-missing-underscore': { logLevel: 'none', addToApiReportFile: false },
    'ae-undocumented': { logLevel: 'none', addToApiReportFile: false },
  },
  tsdocMessageReporting: { default: { logLevel: 'none', addToApiReportFile: false } },
};

/**
 * Types from another @natgrad package that an entry's API uses must be re-exported by the entry: a
 * consumer's declaration emit names a type through a package it depends on, and with pnpm the
 * package that declares it (e.g. @natgrad/core under @natgrad/trainer) is not one (TS2742).
 */
function unnamedNatgradTypes(reportFile, specifier) {
  const report = readFileSync(reportFile, 'utf8');
  const problems = [];
  for (const [, names, from] of report.matchAll(/^import \{ ([^}]+) \} from '(@natgrad\/[^']+)';$/gm)) {
    for (const name of names.split(',').map((n) => n.trim())) {
      if (!new RegExp(`^export \\{ ${name} \\}$`, 'm').test(report)) {
        problems.push(`error: natgrad-unexported-dependency-type: ${specifier} uses ${name} from ${from} but does not re-export it (add \`export type { ${name} } from '${from}'\`)`);
      }
    }
  }
  return problems;
}

let failed = 0;
const entries = libraryEntries();
for (const entry of entries) {
  const name = reportName(entry.specifier);
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: entry.dir,
      mainEntryPointFilePath: entry.dts,
      compiler: {
        overrideTsconfig: {
          compilerOptions: {
            target: 'ES2022',
            module: 'ESNext',
            moduleResolution: 'Bundler',
            lib: ['ES2022', 'DOM'],
            types: ['node'],
            strict: true,
            skipLibCheck: true,
          },
          files: [entry.dts],
        },
      },
      apiReport: { enabled: true, reportFolder, reportTempFolder: tempFolder, reportFileName: name },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages,
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: join(entry.dir, 'package.json'),
  });
  const problems = [];
  const result = Extractor.invoke(config, {
    localBuild: !check,
    messageCallback: (message) => {
      message.handled = true;
      const created = message.messageId === 'console-api-report-created' && !check;
      if (!created && (message.logLevel === ExtractorLogLevel.Error || message.logLevel === ExtractorLogLevel.Warning)) {
        const where = message.sourceFilePath ? ` (${relative(root, message.sourceFilePath)})` : '';
        problems.push(`${message.logLevel}: ${message.messageId}: ${message.text}${where}`);
      }
    },
  });
  problems.push(...unnamedNatgradTypes(join(tempFolder, `${name}.api.md`), entry.specifier));
  const ok = result.succeeded && result.errorCount === 0 && !problems.some((p) => p.startsWith('error'));
  if (!ok) failed++;
  const changed = result.apiReportChanged ? (check ? ' (differs from docs/api: run pnpm api and commit it if the change is intended)' : ' (report updated)') : '';
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${entry.specifier}${changed}`);
  for (const p of problems) console.log(`       ${p}`);
}

// An index of the reports, so docs/api reads as a reference.
if (!check) {
  const lines = [
    '# API reference',
    '',
    'The public surface of every entry, generated by `pnpm api` (api-extractor over the built',
    '`.d.ts` files) and checked in CI by `pnpm api:check`: a change to one of these files is a change',
    'to the public API. Node-only entries are the `/node` subpaths.',
    '',
    '| entry | report |',
    '|---|---|',
    ...entries.map((e) => `| \`${e.specifier}\` | [${reportName(e.specifier)}.api.md](./${reportName(e.specifier)}.api.md) |`),
    '',
  ];
  const index = join(reportFolder, 'README.md');
  let before = '';
  try {
    before = readFileSync(index, 'utf8');
  } catch {}
  if (before !== lines.join('\n')) writeFileSync(index, lines.join('\n'));
}
rmSync(tempFolder, { recursive: true, force: true });
console.log(`${entries.length - failed} entries ok, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
