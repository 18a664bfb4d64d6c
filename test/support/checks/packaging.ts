/**
 * What the packaged CloudFormation must hold before anything is deployed. Each rule returns the
 * violations it finds, so one report names every problem; the packaging test requires none.
 */
export interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly Condition?: string;
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

/** No secretsmanager action on every resource, but ListSecrets (IAM gives it no resource type) for the sweep. */
function secretWildcards(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [role, statements] of statementsByRole(resources)) {
    for (const statement of statements) {
      const actions = actionsOf(statement).filter((action) => action.startsWith('secretsmanager:'));
      if (actions.length === 0) continue;
      const onEverything = /^"\*"$|"\*"\]|:secret:\*/.test(JSON.stringify(statement.Resource));
      const listOnly = actions.length === 1 && actions[0] === 'secretsmanager:ListSecrets';
      if (onEverything && !(listOnly && role === 'SweepRole')) {
        problems.push(`${role} grants ${actions.join(', ')} on every resource`);
      }
      if (!onEverything && !listOnly && !JSON.stringify(statement.Resource).includes(':secret:')) {
        problems.push(`${role} grants ${actions.join(', ')} outside named secrets`);
      }
    }
  }
  return problems;
}

/** Functions a rule invokes (lab events, the schedule): each needs an on-failure destination. */
function eventFunctionsWithoutDestination(resources: Resources): string[] {
  const problems: string[] = [];
  const configs = entriesOfType(resources, 'AWS::Lambda::EventInvokeConfig').map(([, c]) => c.Properties);
  for (const [name, rule] of entriesOfType(resources, 'AWS::Events::Rule')) {
    for (const target of rule.Properties.Targets as { Arn: unknown; DeadLetterConfig?: unknown }[]) {
      const fn = getAtt(target.Arn);
      if (!fn) continue;
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

/** A KMS grant names one key and works only through Secrets Manager, never for direct use of the key. */
function kmsBeyondSecretsManager(resources: Resources): string[] {
  const problems: string[] = [];
  for (const [role, statements] of statementsByRole(resources)) {
    for (const statement of statements) {
      const actions = actionsOf(statement).filter((action) => action.startsWith('kms:') || action === '*');
      if (actions.length === 0 || statement.Effect !== 'Allow') continue;
      const resource = statement.Resource;
      if (typeof resource !== 'string' || !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/\S+$/.test(resource)) {
        problems.push(
          `${role} grants ${actions.join(', ')} on ${JSON.stringify(resource)}, not one key's ARN`,
        );
      }
      const via = JSON.stringify(statement.Condition?.StringEquals?.['kms:ViaService']);
      if (via !== JSON.stringify({ 'Fn::Sub': `secretsmanager.\${AWS::Region}.amazonaws.com` })) {
        problems.push(`${role} grants ${actions.join(', ')} outside Secrets Manager (kms:ViaService ${via})`);
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

const readsKeyValues = (statement: Statement) =>
  actionsOf(statement).includes('secretsmanager:GetSecretValue') &&
  /:secret:[^"]*virtkey-\*/.test(JSON.stringify(statement.Resource));

/**
 * A function that puts key secrets' resource policy hands it KEY_SECRET_READERS: every role that
 * reads key values must be named there, or the policy locks that function out of them.
 */
function keySecretReadersIncomplete(resources: Resources): string[] {
  const problems: string[] = [];
  const byRole = statementsByRole(resources);
  const readers = [...byRole]
    .filter(([, statements]) => statements.some(readsKeyValues))
    .map(([role]) => role);
  for (const [role, statements] of byRole) {
    if (!statements.some((s) => actionsOf(s).includes('secretsmanager:PutResourcePolicy'))) continue;
    for (const fn of functionsOfRole(resources, role)) {
      if (fn.env.KEY_SECRET_READERS === undefined) {
        problems.push(`${fn.name} puts secret policies without KEY_SECRET_READERS`);
        continue;
      }
      const named = String(fn.env.KEY_SECRET_READERS).split(',');
      const roleName = (role: string) => String(resources[role]?.Properties.RoleName ?? role);
      for (const reader of readers.filter((r) => !named.includes(roleName(r)))) {
        problems.push(`${fn.name}'s KEY_SECRET_READERS leaves out ${reader}, which reads key values`);
      }
    }
  }
  return problems;
}

export function packagingViolations(resources: Resources): string[] {
  return [
    ...routesWithoutAuthorizer(resources),
    ...secretWildcards(resources),
    ...eventFunctionsWithoutDestination(resources),
    ...sharedRoles(resources),
    ...putEventsWithoutSource(resources),
    ...kmsBeyondSecretsManager(resources),
    ...labEventsUnguarded(resources),
    ...accessLogProblems(resources),
    ...unbounded(resources),
    ...keySecretReadersIncomplete(resources),
  ];
}
