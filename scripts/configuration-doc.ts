/**
 * `npm run docs`: writes docs/configuration.md's table of environment variables from their
 * declaration (lib/settings.ts), between its two markers; the prose around it is left as it is.
 */
import './check-node.mjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { type Readers, SERVICE_FUNCTIONS, SETTINGS, type Setting } from '../lib/settings.ts';

export const CONFIGURATION_DOC = 'docs/configuration.md';
const START = '<!-- generated from lib/settings.ts by `npm run docs`: edit there -->';
const END = '<!-- end of generated table -->';

const code = (value: string) => `\`${value}\``;

/** The service functions (all of them, as most settings are) in two words; other functions by name. */
function readersCell(readers: Readers): string {
  if (readers === 'all') return 'every function';
  const service = SERVICE_FUNCTIONS.every((name) => readers.includes(name));
  const others = readers.filter((name) => !service || !SERVICE_FUNCTIONS.some((s) => s === name));
  return [...(service ? ['the service functions'] : []), ...others.map(code)].join(', ');
}

function defaultCell(setting: Setting): string {
  if (setting.unset !== undefined) return setting.unset;
  return setting.default ? code(setting.default) : 'empty';
}

function stackCell(setting: Setting): string {
  if (setting.parameter === undefined)
    return setting.stackValue ? `none; set to ${setting.stackValue}` : 'none';
  const differs = setting.stackDefault === undefined ? '' : ` (default ${code(setting.stackDefault)})`;
  return `${code(setting.parameter)}${differs}`;
}

/** The table, one row per setting in the declaration's order. */
export function settingsTable(): string {
  const rows = Object.entries(SETTINGS).map(([name, setting]) =>
    [code(name), defaultCell(setting), stackCell(setting), readersCell(setting.readers), setting.meaning]
      .map((cell) => cell.replaceAll('|', '\\|'))
      .join(' | '),
  );
  return [
    `The service functions are ${SERVICE_FUNCTIONS.map(code).join(', ')}: every function that reads the service's configuration (\`lib/config.ts\`).`,
    '',
    '| variable | default | stage parameter | read by | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row} |`),
  ].join('\n');
}

/** `doc` with the table between its markers replaced by the declaration's. */
export function withSettingsTable(doc: string): string {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start)
    throw new Error(`${CONFIGURATION_DOC} has lost its table markers ${START} ... ${END}`);
  return `${doc.slice(0, start + START.length)}\n${settingsTable()}\n${doc.slice(end)}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const doc = readFileSync(CONFIGURATION_DOC, 'utf8');
  const next = withSettingsTable(doc);
  if (next === doc) console.log(`${CONFIGURATION_DOC} is up to date`);
  else {
    writeFileSync(CONFIGURATION_DOC, next);
    console.log(`${CONFIGURATION_DOC} written from lib/settings.ts`);
  }
}
