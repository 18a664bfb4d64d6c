import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

const DOCS = new URL('../../../docs/', import.meta.url);
const OPENAPI_ID = 'urn:litellm-virtual-keys:schema:openapi';

export interface OpenApiDocument {
  readonly paths: Record<string, Record<string, OpenApiOperation | unknown[]>>;
  readonly components: { readonly schemas: Record<string, unknown> };
}
export interface OpenApiOperation {
  readonly parameters?: { name: string; in: string; schema: unknown }[];
  readonly requestBody?: { content: Record<string, { schema: unknown }> };
  readonly responses: Record<
    string,
    { $ref?: string; headers?: Record<string, unknown>; content?: Record<string, { schema: unknown }> }
  >;
}

export const openApi = parse(readFileSync(new URL('openapi.yaml', DOCS), 'utf8')) as OpenApiDocument;

const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
addFormats.default(ajv);
// The OpenAPI document's schemas, addressable as one JSON Schema.
ajv.addSchema(
  JSON.parse(
    JSON.stringify({ $id: OPENAPI_ID, $defs: openApi.components.schemas }).replaceAll(
      '#/components/schemas/',
      '#/$defs/',
    ),
  ),
);
for (const file of ['lab-events.schema.json', 'result-events.schema.json']) {
  ajv.addSchema(JSON.parse(readFileSync(new URL(`events/${file}`, DOCS), 'utf8')));
}

/** A validator for `#/components/schemas/<name>` of the OpenAPI document, or any schema using them. */
export function openApiValidator(schema: unknown) {
  const rewritten = JSON.parse(
    JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${OPENAPI_ID}#/$defs/`),
  );
  return ajv.compile(rewritten);
}

/** The schema of one event's detail, by detail-type. */
export function eventDetailValidator(file: 'lab-events' | 'result-events', detailType: string) {
  const validate = ajv.getSchema(
    `urn:litellm-virtual-keys:schema:${file}#/$defs/${encodeURIComponent(detailType)}`,
  );
  if (!validate) throw new Error(`no schema for "${detailType}" in ${file}`);
  return validate as ValidateFunction;
}

/** Problems of `value` against the schema, in a readable form. */
export function schemaErrors(validate: ValidateFunction, value: unknown): string[] {
  return validate(value)
    ? []
    : (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message}`);
}
