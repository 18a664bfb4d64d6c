/**
 * What the packaged CloudFormation must hold before anything is deployed. Each rule returns the
 * violations it finds, so one report names every problem; the packaging test requires none.
 */
export interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly Condition?: string;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}
export type Resources = Readonly<Record<string, Resource>>;

export interface Template {
  readonly Resources: Resources;
  readonly Conditions?: Readonly<Record<string, unknown>>;
}

export interface Statement {
  readonly Effect?: string;
  readonly Principal?: unknown;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** The events:source every result event carries (lib/events/bus.ts). */
export const RESULT_EVENT_SOURCE = 'litellm.virtual-keys';

/** The logical id of the KMS key the stack creates for key values (resources/key-values-key.yml). */
export const KEY_VALUES_KEY = 'KeyValuesKey';

/** The encryption context every seal and open of a key value carries (lib/vault/key-vault.ts). */
export const KEY_VALUE_CONTEXT_KEYS = ['target', 'guid', 'alias', 'key_id'] as const;

/**
 * The condition of every use of the key values' KMS key: the context holds these keys only, and
 * each of them (so it cannot be absent either).
 */
export const KEY_VALUE_CONTEXT_CONDITION = {
  'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...KEY_VALUE_CONTEXT_KEYS] },
  Null: Object.fromEntries([
    ['kms:EncryptionContextKeys', 'false'],
    ...KEY_VALUE_CONTEXT_KEYS.map((key) => [`kms:EncryptionContext:${key}`, 'false']),
  ]),
};

/** The KMS actions sealing and opening key values take; nothing else of KMS is granted to a function. */
const KEY_VALUE_ACTIONS = ['kms:Decrypt', 'kms:Encrypt'];
/**
 * Reading the key's metadata (GET /health: is the key enabled?) uses no key material and takes no
 * encryption context; the account's administration statement of the key's policy allows it.
 */
const KEY_METADATA_ACTIONS = ['kms:DescribeKey'];

/** The ledger attribute holding a lab's keys and their sealed values (lib/ledger/lab-record.ts). */
const SEALED_VALUES_ATTRIBUTE = 'keys';

const NO_VALUE = Symbol('AWS::NoValue');

/**
 * The resources CloudFormation would create from `template`: each condition decided (serverless
 * has put the parameters in, so they compare literals), Fn::If replaced by its branch,
 * AWS::NoValue dropped, Fn::Split of a literal split, resources whose condition is false left out.
 */
export function deployedResources(template: Template): Resources {
  const conditions = template.Conditions ?? {};
  const decide = (expression: unknown): boolean => {
    const [fn, args] = Object.entries(expression as Record<string, unknown>)[0] ?? [];
    const list = args as unknown[];
    if (fn === 'Condition' && typeof args === 'string') return decide(conditions[args]);
    if (fn === 'Fn::Not') return !decide(list[0]);
    if (fn === 'Fn::And') return list.every(decide);
    if (fn === 'Fn::Or') return list.some(decide);
    if (fn === 'Fn::Equals' && list.every((arg) => typeof arg === 'string')) return list[0] === list[1];
    throw new Error(`cannot decide ${JSON.stringify(expression)} before deployment`);
  };
  const isCondition = (name: unknown) => {
    if (typeof name !== 'string' || !(name in conditions)) throw new Error(`no condition ${String(name)}`);
    return decide(conditions[name]);
  };
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve).filter((item) => item !== NO_VALUE);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    const [fn, args] = entries.length === 1 ? (entries[0] as [string, unknown]) : [];
    if (fn === 'Ref' && args === 'AWS::NoValue') return NO_VALUE;
    if (fn === 'Fn::If') {
      const [name, yes, no] = args as [string, unknown, unknown];
      return resolve(isCondition(name) ? yes : no);
    }
    if (fn === 'Fn::Split') {
      const [separator, text] = (args as unknown[]).map(resolve);
      if (typeof separator === 'string' && typeof text === 'string') return text.split(separator);
    }
    return Object.fromEntries(
      entries.map(([key, item]) => [key, resolve(item)]).filter(([, item]) => item !== NO_VALUE),
    );
  };
  return Object.fromEntries(
    Object.entries(template.Resources)
      .filter(([, resource]) => resource.Condition === undefined || isCondition(resource.Condition))
      .map(([name, resource]) => [name, resolve(resource) as Resource]),
  );
}

const entriesOfType = (resources: Resources, type: string) =>
  Object.entries(resources).filter(([, resource]) => resource.Type === type);

const getAtt = (value: unknown): string | undefined =>
  (value as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt']?.[0];

const ref = (value: unknown): string | undefined => (value as { Ref?: string } | undefined)?.Ref;

/** Every statement of a role's inline policies, by role. */
export function statementsByRole(resources: Resources): Map<string, Statement[]> {
  const byRole = new Map<string, Statement[]>();
  for (const [name, role] of entriesOfType(resources, 'AWS::IAM::Role')) {
    const policies = (role.Properties.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[];
    byRole.set(
      name,
      policies.flatMap((policy) => policy.PolicyDocument.Statement),
    );
  }
  return byRole;
}

const actionsOf = (statement: Statement) => [statement.Action].flat();

/** The function a role belongs to (ProvisionRole: ProvisionLambdaFunction), by the functions' Role. */
const functionsOfRole = (resources: Resources, role: string) =>
  entriesOfType(resources, 'AWS::Lambda::Function')
    .filter(([, fn]) => getAtt(fn.Properties.Role) === role)
    .map(([name, fn]) => ({ name, env: (fn.Properties.Environment as Env | undefined)?.Variables ?? {} }));

type Env = { Variables?: Record<string, unknown> };

/** Every HTTP route is behind the Lambda REQUEST authorizer. */
function routesWithoutAuthorizer(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [, route] of entriesOfType(resources, 'AWS::ApiGatewayV2::Route')) {
    const key = String(route.Properties.RouteKey);
    const authorizer = resources[ref(route.Properties.AuthorizerId) ?? ''];
    if (route.Properties.AuthorizationType !== 'CUSTOM' || !authorizer) {
      problems.push(`route ${key} has no authorizer`);
    } else if (
      authorizer.Properties.AuthorizerType !== 'REQUEST' ||
      !JSON.stringify(authorizer.Properties.AuthorizerUri).includes('"AuthorizerLambdaFunction"')
    ) {
      problems.push(`route ${key} is not behind the bearer-token authorizer function`);
    }
  }
  return problems;
}

/**
 * Secrets Manager holds the master keys and the API tokens, read only, each secret by name; key
 * values live sealed in the ledger, so no role may touch a key secret (virtkey-*) any more.
 */
function secretGrantProblems(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [role, statements] of statementsByRole(resources)) {
    for (const statement of statements) {
      const actions = actionsOf(statement).filter(
        (action) => action.startsWith('secretsmanager:') || action === '*',
      );
      if (actions.length === 0 || statement.Effect !== 'Allow') continue;
      const resource = JSON.stringify(statement.Resource);
      const beyondReading = actions.filter((action) => action !== 'secretsmanager:GetSecretValue');
      if (beyondReading.length > 0)
        problems.push(`${role} grants ${beyondReading.join(', ')}, beyond reading`);
      if (/^"\*"$|"\*"[\],]|:secret:\*/.test(resource)) {
        problems.push(`${role} grants ${actions.join(', ')} on every resource`);
      } else if (!resource.includes(':secret:')) {
        problems.push(`${role} grants ${actions.join(', ')} outside named secrets`);
      }
      if (/:secret:[^"]*virtkey-/.test(resource)) {
        problems.push(`${role} grants ${actions.join(', ')} on key secrets (virtkey-*)`);
      }
    }
  }
  return problems;
}

/** Scheduled functions with nothing to replay: a failed run is repeated by the next, minutes later. */
const NOTHING_TO_REPLAY = ['InFlightWatchLambdaFunction'];

/** Functions a rule invokes (lab events, the schedule): each needs an on-failure destination. */
function eventFunctionsWithoutDestination(resources: Resources): string[] {
  const problems: string[] = [];
  const configs = entriesOfType(resources, 'AWS::Lambda::EventInvokeConfig').map(([, c]) => c.Properties);
  for (const [name, rule] of entriesOfType(resources, 'AWS::Events::Rule')) {
    for (const target of rule.Properties.Targets as { Arn: unknown; DeadLetterConfig?: unknown }[]) {
      const fn = getAtt(target.Arn);
      if (!fn || NOTHING_TO_REPLAY.includes(fn)) continue;
      const config = configs.find((c) => ref(c.FunctionName) === fn);
      const destination = (config?.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
        ?.OnFailure?.Destination;
      if (!destination) problems.push(`${fn}, invoked by ${name}, has no on-failure destination`);
      if (rule.Properties.EventPattern && !target.DeadLetterConfig) {
        problems.push(`${name} has no dead-letter queue for events it cannot deliver`);
      }
    }
  }
  return problems;
}

/** One role per function, so no function holds another's permissions. */
function sharedRoles(resources: Resources): string[] {
  const byRole = new Map<string, string[]>();
  for (const [name, fn] of entriesOfType(resources, 'AWS::Lambda::Function')) {
    const role = getAtt(fn.Properties.Role) ?? JSON.stringify(fn.Properties.Role);
    byRole.set(role, [...(byRole.get(role) ?? []), name]);
  }
  return [...byRole]
    .filter(([, functions]) => functions.length > 1)
    .map(([role, functions]) => `${role} is shared by ${functions.join(', ')}`);
}

/**
 * Result events only as this service: a role that may put any source could forge RHDP's lab
 * events (or another service's) on the bus.
 */
function putEventsWithoutSource(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [role, statements] of statementsByRole(resources)) {
    for (const statement of statements) {
      const actions = actionsOf(statement).filter((action) => /^events:(PutEvents|\*)$|^\*$/.test(action));
      if (actions.length === 0 || statement.Effect !== 'Allow') continue;
      const source = [statement.Condition?.StringEquals?.['events:source']].flat();
      if (source.length !== 1 || source[0] !== RESULT_EVENT_SOURCE) {
        problems.push(`${role} may put events with a source other than ${RESULT_EVENT_SOURCE}`);
      }
    }
  }
  return problems;
}

/** One key's ARN: the stack's own key (its Arn attribute) or the one configured. */
const isOneKey = (resource: unknown) =>
  (typeof resource === 'string' &&
    /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(resource)) ||
  JSON.stringify(resource) === JSON.stringify({ 'Fn::GetAtt': [KEY_VALUES_KEY, 'Arn'] });

/**
 * What is wrong with a condition meant to bind a use of the key values' key to a key value's
 * encryption context: exactly its keys, each present, and nothing routing the call through another
 * service (the functions call KMS themselves, and kms:ViaService would refuse them).
 */
function contextConditionProblems(
  condition: Statement['Condition'],
  others: readonly string[] = [],
): string[] {
  const problems: string[] = [];
  if (JSON.stringify(condition ?? {}).includes('kms:ViaService'))
    problems.push('only through another service (kms:ViaService)');
  const keys = condition?.['ForAllValues:StringEquals']?.['kms:EncryptionContextKeys'];
  if (JSON.stringify([keys].flat().sort()) !== JSON.stringify([...KEY_VALUE_CONTEXT_KEYS].sort())) {
    problems.push(
      `under encryption context keys other than ${KEY_VALUE_CONTEXT_KEYS.join(', ')} (${JSON.stringify(keys)})`,
    );
  }
  const required = KEY_VALUE_CONTEXT_CONDITION.Null;
  const present = condition?.Null ?? {};
  const missing = Object.keys(required).filter((key) => present[key] !== 'false');
  if (missing.length > 0) problems.push(`without requiring ${missing.join(', ')}`);
  const expected = new Set(['ForAllValues:StringEquals', 'Null', ...others]);
  const extra = Object.keys(condition ?? {}).filter((operator) => !expected.has(operator));
  if (extra.length > 0) problems.push(`with conditions besides the context's (${extra.join(', ')})`);
  return problems;
}

/**
 * A KMS grant seals or opens key values only: Encrypt and Decrypt, on one key, under a key value's
 * encryption context (so a sealed value opens only in its own record), called directly.
 */
function kmsGrantProblems(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [role, statements] of statementsByRole(resources)) {
    for (const statement of statements) {
      const actions = actionsOf(statement).filter((action) => action.startsWith('kms:') || action === '*');
      if (actions.length === 0 || statement.Effect !== 'Allow') continue;
      const grants = `${role} grants ${actions.join(', ')}`;
      if (!isOneKey(statement.Resource)) {
        problems.push(`${grants} on ${JSON.stringify(statement.Resource)}, not one key's ARN`);
      }
      if (actions.every((action) => KEY_METADATA_ACTIONS.includes(action))) continue;
      const beyond = actions.filter((action) => !KEY_VALUE_ACTIONS.includes(action));
      if (beyond.length > 0)
        problems.push(`${role} grants ${beyond.join(', ')}, beyond sealing and opening key values`);
      for (const problem of contextConditionProblems(statement.Condition))
        problems.push(`${grants} ${problem}`);
    }
  }
  return problems;
}

/** The KMS grants of each role: the key (as JSON) and the actions on it. */
function kmsGrantsByRole(resources: Resources): Map<string, { key: string; actions: string[] }[]> {
  return new Map(
    [...statementsByRole(resources)].map(([role, statements]) => [
      role,
      statements
        .filter((s) => s.Effect === 'Allow' && actionsOf(s).some((a) => a.startsWith('kms:')))
        .map((s) => ({ key: JSON.stringify(s.Resource), actions: actionsOf(s) })),
    ]),
  );
}

/**
 * A function seals and opens with the key its role may use: KEY_VALUES_KMS_KEY_ID names exactly
 * that key. A function whose role may use no key (the sweep reads the variable with the rest of the
 * configuration) names, if any, the key the others use.
 */
function keyIdsMismatched(resources: Resources): string[] {
  const problems: string[] = [];
  const byRole = kmsGrantsByRole(resources);
  const granted = [...new Set([...byRole.values()].flat().map((grant) => grant.key))];
  for (const [role, grants] of byRole) {
    const keys = [...new Set(grants.map((grant) => grant.key))];
    for (const fn of functionsOfRole(resources, role)) {
      const keyId = fn.env.KEY_VALUES_KMS_KEY_ID;
      if (keys.length === 0) {
        if (keyId !== undefined && (granted.length !== 1 || JSON.stringify(keyId) !== granted[0]))
          problems.push(
            `${fn.name}'s KEY_VALUES_KMS_KEY_ID ${JSON.stringify(keyId)} is not the key the other functions use`,
          );
      } else if (keys.length > 1) {
        problems.push(`${role} may use ${keys.length} KMS keys, not one`);
      } else if (JSON.stringify(keyId) !== keys[0]) {
        problems.push(
          `${fn.name}'s KEY_VALUES_KMS_KEY_ID ${JSON.stringify(keyId)} is not the key ${role} may use`,
        );
      }
    }
  }
  return problems;
}

/** Actions that use a KMS key (or hand its use on, as a grant does), as opposed to administering it. */
const USES_KEY =
  /^(\*|kms:\*|kms:(Encrypt|Decrypt|ReEncrypt|GenerateDataKey|CreateGrant|GenerateMac|VerifyMac|Sign|Verify|DeriveSharedSecret)[\w*]*)$/;

/**
 * The key the stack creates for key values: symmetric, rotated, retained (the retained ledger's
 * values open with it only); its policy lets no one use it but the function roles, each for what its
 * own grant allows, under a key value's encryption context; and lets each of them what its grant does.
 */
function keyValuesKeyProblems(resources: Resources): string[] {
  const problems: string[] = [];
  const roleOfName = new Map(
    entriesOfType(resources, 'AWS::IAM::Role').map(([role, r]) => [String(r.Properties.RoleName), role]),
  );
  for (const [name, key] of entriesOfType(resources, 'AWS::KMS::Key')) {
    const properties = key.Properties;
    if (properties.EnableKeyRotation !== true) problems.push(`${name} is not rotated`);
    if ((properties.KeySpec ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT')
      problems.push(`${name} is not symmetric`);
    if (key.DeletionPolicy !== 'Retain' || key.UpdateReplacePolicy !== 'Retain') {
      problems.push(`${name} is not retained on deletion and replacement`);
    }
    const allowed = new Map<string, Set<string>>();
    const statements = (properties.KeyPolicy as { Statement?: Statement[] } | undefined)?.Statement ?? [];
    for (const [index, statement] of statements.entries()) {
      const uses = actionsOf(statement).filter((action) => USES_KEY.test(action));
      if (uses.length === 0 || statement.Effect !== 'Allow') continue;
      const label = `${name}'s policy statement ${(statement as { Sid?: string }).Sid ?? index}`;
      const principals = [statement.Condition?.ArnEquals?.['aws:PrincipalArn']].flat();
      const roles = principals.map((arn) =>
        roleOfName.get(/:role\/([^"/]+)"/.exec(JSON.stringify(arn) ?? '')?.[1] ?? ''),
      );
      if (principals.length === 0 || principals[0] === undefined || roles.includes(undefined)) {
        problems.push(`${label} lets ${uses.join(', ')} to principals other than the function roles`);
      }
      for (const problem of contextConditionProblems(statement.Condition, ['ArnEquals'])) {
        problems.push(`${label} lets ${uses.join(', ')} ${problem}`);
      }
      for (const role of roles.filter((r): r is string => r !== undefined)) {
        for (const use of uses) allowed.set(role, new Set([...(allowed.get(role) ?? []), use]));
      }
    }
    const self = JSON.stringify({ 'Fn::GetAtt': [name, 'Arn'] });
    for (const [role, grants] of kmsGrantsByRole(resources)) {
      const needs = new Set(
        grants
          .filter((grant) => grant.key === self)
          .flatMap((grant) => grant.actions)
          .filter((action) => !KEY_METADATA_ACTIONS.includes(action)),
      );
      const lets = allowed.get(role) ?? new Set();
      const unmet = [...needs].filter((action) => !lets.has(action));
      const beyond = [...lets].filter((action) => !needs.has(action));
      if (unmet.length > 0)
        problems.push(`${name}'s policy does not let ${role} ${unmet.join(', ')}, which its grant allows`);
      if (beyond.length > 0)
        problems.push(`${name}'s policy lets ${role} ${beyond.join(', ')}, beyond its grant`);
    }
  }
  return problems;
}

/** The ledger's indexes hold lab summaries, listed to callers: none may carry a sealed key value. */
function indexesWithValues(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [name, table] of entriesOfType(resources, 'AWS::DynamoDB::Table')) {
    const indexes = (table.Properties.GlobalSecondaryIndexes ?? []) as {
      IndexName: string;
      Projection?: { ProjectionType?: string; NonKeyAttributes?: string[] };
    }[];
    for (const index of indexes) {
      const projection = index.Projection?.ProjectionType;
      if (projection !== 'INCLUDE' && projection !== 'KEYS_ONLY') {
        problems.push(
          `${name}'s index ${index.IndexName} projects ${projection ?? 'nothing said'}, sealed values too`,
        );
      } else if (index.Projection?.NonKeyAttributes?.includes(SEALED_VALUES_ATTRIBUTE)) {
        problems.push(
          `${name}'s index ${index.IndexName} projects ${SEALED_VALUES_ATTRIBUTE}, the sealed values`,
        );
      }
    }
  }
  return problems;
}

/** The principals of a bus policy's statement: a list of ARNs, or "*". */
const principalsOf = (statement: Statement): unknown =>
  (statement.Principal as { AWS?: unknown } | undefined)?.AWS ?? statement.Principal;

/**
 * Lab events arrive on a bus other than the default one. A bus this stack creates lets only named
 * principals put events: its Allows name them, and a Deny of everyone else by aws:PrincipalArn
 * (or of everyone, when none is named) shuts out same-account roles too.
 */
function labEventsUnguarded(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [name, rule] of entriesOfType(resources, 'AWS::Events::Rule')) {
    if (!rule.Properties.EventPattern) continue;
    const bus = rule.Properties.EventBusName;
    if (bus === undefined || bus === 'default') problems.push(`${name} listens on the default event bus`);
  }
  for (const [name, bus] of entriesOfType(resources, 'AWS::Events::EventBus')) {
    const statements = (
      (bus.Properties.Policy as { Statement?: Statement[] } | undefined)?.Statement ?? []
    ).filter((statement) =>
      actionsOf(statement).some((action) => /^events:(PutEvents|\*)$|^\*$/.test(action)),
    );
    const allowed = statements
      .filter((statement) => statement.Effect === 'Allow')
      .flatMap((statement) => [principalsOf(statement)].flat());
    if (allowed.some((principal) => typeof principal !== 'string' || !principal.startsWith('arn:'))) {
      problems.push(`${name} lets ${JSON.stringify(allowed)} put events, not only named principals`);
    }
    const denials = statements.filter(
      (statement) => statement.Effect === 'Deny' && JSON.stringify(principalsOf(statement)) === '"*"',
    );
    const shutOut = denials.some((statement) => {
      if (statement.Condition === undefined) return true;
      const keys = Object.entries(statement.Condition);
      const unlisted = statement.Condition.ArnNotEquals?.['aws:PrincipalArn'];
      return (
        keys.length === 1 && JSON.stringify([unlisted].flat().sort()) === JSON.stringify([...allowed].sort())
      );
    });
    if (!shutOut) problems.push(`${name} does not deny PutEvents to every principal it does not name`);
  }
  return problems;
}

const HTTP_STAGES = (resources: Resources) => entriesOfType(resources, 'AWS::ApiGatewayV2::Stage');

/** Access logs are JSON of $context values: never a header, so never the bearer token. */
function accessLogProblems(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [name, stage] of HTTP_STAGES(resources)) {
    const format = (stage.Properties.AccessLogSettings as { Format?: string } | undefined)?.Format;
    if (format === undefined) {
      problems.push(`${name} has no access log`);
      continue;
    }
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(format);
    } catch {
      problems.push(`${name} logs access in a format that is not JSON`);
      continue;
    }
    for (const [field, value] of Object.entries(fields)) {
      if (typeof value !== 'string' || !/^\$context\.[A-Za-z.]+$/.test(value)) {
        problems.push(`${name} logs ${field} as ${JSON.stringify(value)}, not one $context value`);
      } else if (/header|authorization|userAgent/i.test(value)) {
        problems.push(`${name} logs ${field} from a request header (${value})`);
      }
    }
  }
  return problems;
}

/** The stage admits a bounded request rate, and every function a bounded concurrency. */
function unbounded(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [name, stage] of HTTP_STAGES(resources)) {
    const settings = stage.Properties.DefaultRouteSettings as Record<string, unknown> | undefined;
    for (const limit of ['ThrottlingRateLimit', 'ThrottlingBurstLimit']) {
      const value = settings?.[limit];
      if (typeof value !== 'number' || value <= 0) problems.push(`${name} has no ${limit}`);
    }
  }
  for (const [name, fn] of entriesOfType(resources, 'AWS::Lambda::Function')) {
    if (typeof fn.Properties.ReservedConcurrentExecutions !== 'number') {
      problems.push(`${name} has no reserved concurrency`);
    }
  }
  return problems;
}

export function packagingViolations(resources: Resources): string[] {
  return [
    ...routesWithoutAuthorizer(resources),
    ...secretGrantProblems(resources),
    ...eventFunctionsWithoutDestination(resources),
    ...sharedRoles(resources),
    ...putEventsWithoutSource(resources),
    ...kmsGrantProblems(resources),
    ...keyIdsMismatched(resources),
    ...keyValuesKeyProblems(resources),
    ...indexesWithValues(resources),
    ...labEventsUnguarded(resources),
    ...accessLogProblems(resources),
    ...unbounded(resources),
  ];
}
