/**
 * fast-check arbitraries for what callers can send: request bodies and event details built from
 * the contract's fields (each value valid, nearly valid or wild), path guids, query strings,
 * headers and the base64 flag, as API Gateway hands them to the functions.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { BUILT_IN_PACKAGES } from '../../lib/packages.ts';
import { DEFAULT_MODELS } from './litellm/server.ts';

type Json = Record<string, unknown>;

/** Guids used again and again (so one input's provision meets another's status) and other valid ones. */
export const REUSED_GUIDS = ['fz1', 'fz2', 'fz-lab-3', '0'];

const validGuid = fc.oneof(
  { arbitrary: fc.constantFrom(...REUSED_GUIDS), weight: 3 },
  { arbitrary: fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/), weight: 1 },
);

/** Anything JSON can carry, for a field that expects something else. */
const wild = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 300, unit: 'grapheme' }),
  fc.constantFrom(null, true, -1, 0, 1e308, '', ' ', '__proto__', 'constructor'),
);

/** Guids a path can carry: strings that break the rules in every way. */
const badPathGuid = fc.oneof(
  fc.constantFrom('', '-a', 'a-', 'A1', 'a'.repeat(41), '../x', 'a b', 'ä', '%2F', 'a/b', '\u0000'),
  fc.string({ maxLength: 45, unit: 'binary' }),
);
const badGuid = fc.oneof(badPathGuid, wild);

const userName = fc.stringMatching(/^[a-z0-9]{1,6}$/);

/** Per field: values the contract accepts, and values it must refuse (near misses and wild ones). */
const fields: Record<string, { valid: fc.Arbitrary<unknown>; invalid: fc.Arbitrary<unknown> }> = {
  guid: { valid: validGuid, invalid: badGuid },
  package: {
    valid: fc.constantFrom(...Object.keys(BUILT_IN_PACKAGES)),
    invalid: fc.oneof(fc.constantFrom('unknown', '', 'AI-DEVELOPER', 'constructor', 'toString'), wild),
  },
  models: {
    valid: fc.subarray(DEFAULT_MODELS, { minLength: 1 }),
    invalid: fc.oneof(
      fc.constantFrom([], ['gpt-none'], ['', 'x'], [DEFAULT_MODELS[0], DEFAULT_MODELS[0]]),
      fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
      wild,
    ),
  },
  duration: {
    valid: fc.oneof(
      fc.constantFrom('7d', '1h', '30m', '2w', '1mo'),
      fc.stringMatching(/^[1-9][0-9]{0,2}(h|d)$/),
    ),
    invalid: fc.oneof(fc.constantFrom('0d', '10000d', '7 d', '7D', 'd', '-1d', '1.5h', '1y'), wild),
  },
  expires: {
    valid: fc
      .integer({ min: 60, max: 365 * 86_400 })
      .map((s) => new Date(Date.now() + s * 1000).toISOString()),
    invalid: fc.oneof(
      fc
        .date({ min: new Date('2000-01-01'), max: new Date('2020-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString()),
      fc.constantFrom('2099-01-01', 'tomorrow', '2030-01-01T00:00:00', '2999-01-01T00:00:00Z'),
      wild,
    ),
  },
  user_id: {
    valid: fc.emailAddress(),
    invalid: fc.oneof(fc.constantFrom('a b', '', 'x\ty', 'a'.repeat(256)), wild),
  },
  users: {
    valid: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.uniqueArray(userName, { minLength: 1, maxLength: 3 })),
    invalid: fc.oneof(fc.constantFrom(0, -1, 201, 1.5, 1e9, [], ['user1', 'user1'], ['User'], ['-x']), wild),
  },
  user_base: {
    valid: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
    invalid: fc.oneof(fc.constantFrom('', '-u', 'a'.repeat(38), 'U'), wild),
  },
  max_budget: {
    valid: fc.oneof(fc.constant(null), fc.double({ min: 0, max: 1e6, noNaN: true })),
    invalid: fc.oneof(fc.constantFrom(-1, -0.01, '5'), fc.double({ max: -1e-9, noNaN: true }), wild),
  },
  metadata: {
    valid: fc.dictionary(
      fc.stringMatching(/^[a-z_]{1,10}$/),
      fc.string({ maxLength: 40, unit: 'grapheme' }),
      {
        maxKeys: 4,
      },
    ),
    invalid: fc.oneof(
      fc.constantFrom({ guid: 'x' }, { owner: 'x' }, { 'a b': 'c' }, { a: 1 }, { a: 'x'.repeat(257) }),
      fc.dictionary(fc.string(), wild, { minKeys: 1, maxKeys: 3 }),
      wild,
    ),
  },
  force_db_delete: {
    valid: fc.constantFrom(false, 'false'),
    invalid: fc.oneof(fc.constantFrom(true, 'true', 'yes', 1), wild),
  },
  dry_run: {
    valid: fc.oneof(fc.constant(true), fc.constant('true')),
    invalid: fc.oneof(fc.constantFrom('yes', 1), wild),
  },
};

/** A `/keys/{guid}` path parameter. */
export const pathGuid = fc.oneof({ arbitrary: validGuid, weight: 4 }, { arbitrary: badPathGuid, weight: 1 });

/** Valid fields that may not go together are parted: one of duration and expires; user_id or users; user_base only with a count. */
function coherent(body: Json): Json {
  const { expires, user_id, user_base, ...rest } = body;
  return {
    ...rest,
    ...(expires !== undefined && rest.duration === undefined ? { expires } : {}),
    ...(user_id !== undefined && rest.users === undefined ? { user_id } : {}),
    ...(user_base !== undefined && typeof rest.users === 'number' ? { user_base } : {}),
  };
}

/**
 * A body or detail made of the named fields with valid values (`required` ones always there),
 * then, more often than not, one thing spoilt: a field given a value it must refuse, a required
 * field left out, or unknown fields added.
 */
export function objectOf(names: readonly string[], required: readonly string[] = []): fc.Arbitrary<Json> {
  const spec = (field: string) => fields[field] as (typeof fields)[string];
  const valid = fc
    .record(Object.fromEntries(names.map((field) => [field, spec(field).valid])), {
      requiredKeys: [...required],
    })
    .map(coherent);
  const spoil: fc.Arbitrary<(body: Json) => Json> = fc.oneof(
    { arbitrary: fc.constant((body: Json) => body), weight: 4 },
    {
      arbitrary: fc
        .constantFrom(...names)
        .chain((field) => spec(field).invalid.map((value) => (body: Json) => ({ ...body, [field]: value }))),
      weight: 4,
    },
    {
      arbitrary: fc.constant((body: Json) =>
        Object.fromEntries(Object.entries(body).filter(([field]) => !required.includes(field))),
      ),
      weight: 1,
    },
    {
      arbitrary: fc
        .dictionary(fc.string({ minLength: 1, maxLength: 12 }), wild, { minKeys: 1, maxKeys: 2 })
        .map((extra) => (body: Json) => ({ ...extra, ...body })),
      weight: 1,
    },
  );
  return fc.tuple(valid, spoil).map(([body, change]) => change(body));
}

/** A detail or body: mostly shaped like the contract, sometimes any JSON at all. */
export const payloadOf = (names: readonly string[], required: readonly string[] = []) =>
  fc.oneof({ arbitrary: objectOf(names, required), weight: 8 }, { arbitrary: wild, weight: 1 });

/** A body as it arrives: serialised JSON, or text that is not JSON, or none; base64 or not, flagged rightly or wrongly. */
export const httpBody = (names: readonly string[], required: readonly string[] = []) =>
  fc
    .tuple(
      fc.oneof(
        {
          arbitrary: payloadOf(names, required).map((value) => JSON.stringify(value) as string | undefined),
          weight: 12,
        },
        { arbitrary: fc.string({ maxLength: 200, unit: 'binary' }), weight: 1 },
        { arbitrary: fc.constantFrom(undefined, '', '{', 'null', '[]', '{"guid":'), weight: 1 },
      ),
      fc.oneof(
        { arbitrary: fc.constantFrom('plain', 'base64'), weight: 10 },
        { arbitrary: fc.constantFrom('flagged-not-encoded', 'encoded-not-flagged'), weight: 1 },
      ),
    )
    .map(([text, encoding]) => {
      if (text === undefined) return { body: undefined, isBase64Encoded: encoding === 'base64' };
      const base64 = Buffer.from(text).toString('base64');
      switch (encoding) {
        case 'plain':
          return { body: text, isBase64Encoded: false };
        case 'base64':
          return { body: base64, isBase64Encoded: true };
        case 'flagged-not-encoded':
          return { body: text, isBase64Encoded: true };
        default:
          return { body: base64, isBase64Encoded: false };
      }
    });

/** Query parameters: the known one with any value, and unknown ones. */
export const queryString = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 6 },
  {
    arbitrary: fc.record({ force_db_delete: fc.constantFrom('true', 'false', 'TRUE', '1', '') }),
    weight: 2,
  },
  {
    arbitrary: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 20 }), {
      minKeys: 1,
      maxKeys: 3,
    }),
    weight: 1,
  },
);

/** Headers as API Gateway passes them (lower-case names), with odd content types and extra entries. */
export const headers = fc
  .tuple(
    fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-16',
      '',
      undefined,
    ),
    fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), fc.string({ maxLength: 40 }), { maxKeys: 3 }),
  )
  .map(([contentType, extra]) => ({
    ...extra,
    authorization: 'Bearer example-api-token-0123456789',
    ...(contentType === undefined ? {} : { 'content-type': contentType }),
  }));

/** Fill a sample HTTP event with fuzzed parts; `guid` undefined leaves the route without its path parameter. */
export function httpEvent(
  sample: APIGatewayProxyEventV2,
  parts: {
    guid?: string | undefined;
    query?: Record<string, string> | undefined;
    headers: Record<string, string>;
    body?: { body: string | undefined; isBase64Encoded: boolean };
  },
): APIGatewayProxyEventV2 {
  const event: APIGatewayProxyEventV2 = { ...sample, headers: parts.headers };
  if ('guid' in parts) {
    if (parts.guid === undefined) delete event.pathParameters;
    else event.pathParameters = { guid: parts.guid };
  }
  if (parts.query) {
    event.queryStringParameters = parts.query;
    event.rawQueryString = new URLSearchParams(parts.query).toString();
  } else {
    delete event.queryStringParameters;
    event.rawQueryString = '';
  }
  if (parts.body) {
    if (parts.body.body === undefined) delete event.body;
    else event.body = parts.body.body;
    event.isBase64Encoded = parts.body.isBase64Encoded;
  }
  return event;
}
