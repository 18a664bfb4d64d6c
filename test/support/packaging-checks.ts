/**
 * What the packaged CloudFormation must hold before anything is deployed. Each rule returns the
 * violations it finds, so one report names every problem; the packaging test requires none.
 */
export interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
}
export type Resources = Readonly<Record<string, Resource>>;

export interface Statement {
  readonly Action: string | string[];
  readonly Resource: unknown;
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

export function packagingViolations(resources: Resources): string[] {
  return [
    ...routesWithoutAuthorizer(resources),
    ...secretWildcards(resources),
    ...eventFunctionsWithoutDestination(resources),
    ...sharedRoles(resources),
  ];
}
