import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** What serverless.yml declares about settings, read as written (no variable resolved). */
export interface ServiceFile {
  /** `params.default`: every stage parameter and its default. */
  readonly params: Readonly<Record<string, unknown>>;
  /** `provider.environment`: the variables every function is given. */
  readonly providerEnvironment: Readonly<Record<string, unknown>>;
  /** `functions`: each function's declaration, by name. */
  readonly functions: Readonly<Record<string, unknown>>;
}

/** CloudFormation's short forms, kept as their long forms; serverless.yml and its resources use these. */
const SHORT_FORMS = ['Ref', 'GetAtt', 'Sub', 'If', 'Equals', 'Join', 'Split', 'Select', 'Not', 'And', 'Or'];
const customTags = SHORT_FORMS.flatMap((name) => {
  const long = name === 'Ref' ? 'Ref' : `Fn::${name}`;
  const resolve = (value: unknown) => ({ [long]: value });
  return [
    { tag: `!${name}`, resolve },
    { tag: `!${name}`, collection: 'seq' as const, resolve },
  ];
});

export function readServiceFile(path = 'serverless.yml'): ServiceFile {
  const file = parse(readFileSync(path, 'utf8'), { customTags }) as {
    params: { default: Record<string, unknown> };
    provider: { environment: Record<string, unknown> };
    functions: Record<string, unknown>;
  };
  return {
    params: file.params.default,
    providerEnvironment: file.provider.environment,
    functions: file.functions,
  };
}
