/*
 * The alarms there is one of per LiteLLM target, per function or per operation (the others are in
 * resources/alarms.yml), and the topic every alarm notifies: the stack's AlarmTopic, made here, or
 * the one parameter alarmTopicArn names. Missing data never breaches here: each metric is written only when
 * something happens (a failure, an invocation).
 */
const { targetsOf, functionsOf, logicalPart, OPERATIONS, NAMESPACE, SERVICE } = require('./monitored.cjs');

/*
 * Functions whose throttles page no one. A reserved concurrency is a cap meant to be reached: a
 * throttled HTTP caller is answered 429 and retries. The authorizer (20) is throttled by anyone
 * sending made-up bearer tokens (each a cache miss), health (2) by three probes at once: neither
 * says anything about the service. On the lab-event path (the labEventQueue router and the
 * provision, destroy and extend it invokes) a throttle is an event retried later; what matters
 * there, events left waiting whatever the cause, is the age alarm on LabEventQueue
 * (resources/alarms.yml). The other functions alarm only on throttling sustained over 3 of 5
 * minutes, not on a workshop's burst: provision, destroy and extend keep theirs for their HTTP callers.
 */
const NO_THROTTLE_ALARM = new Set(['authorizer', 'health', 'labEventQueue']);

const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

async function topicOf(resolveVariable) {
  const arn = String((await resolveVariable('param:alarmTopicArn')) ?? '').trim();
  if (arn && !TOPIC_ARN.test(arn)) {
    throw new Error(`param alarmTopicArn must be an SNS topic ARN, not ${JSON.stringify(arn)}`);
  }
  return arn || { Ref: 'AlarmTopic' };
}

/** An alarm on a count: above 0 in `datapoints` of `periods` periods of `period` seconds. */
function countAlarm(
  topic,
  name,
  description,
  metric,
  { period = 300, periods = 1, datapoints = periods } = {},
) {
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmName: name,
      AlarmDescription: description,
      ...metric,
      Statistic: 'Sum',
      Period: period,
      EvaluationPeriods: periods,
      DatapointsToAlarm: datapoints,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
      OKActions: [topic],
    },
  };
}

module.exports = async ({ resolveVariable }) => {
  const topic = await topicOf(resolveVariable);
  const prefix = `${await resolveVariable('self:service')}-${await resolveVariable('sls:stage')}`;
  const see = (slug) => `Runbook: docs/operating.md#alarm-${slug}`;
  const own = (name, dimensions) => ({
    Namespace: NAMESPACE,
    MetricName: name,
    Dimensions: [SERVICE, ...dimensions],
  });
  // Decided when packaging, as every parameter is: no alarm refers to a resource that may not exist.
  const resources = topic.Ref
    ? {
        // Alarm notifications carry alarm names and figures, never a secret. Not KMS-encrypted: the
        // AWS managed SNS key does not let CloudWatch publish; an operator's topic may be.
        AlarmTopic: {
          Type: 'AWS::SNS::Topic',
          Properties: { TopicName: `${prefix}-alarms`, DisplayName: `${prefix} alarms` },
        },
      }
    : {};
  // LiteLLM down for a target: 3 minutes of the last 5 with an operation that could not reach it.
  for (const target of await targetsOf(resolveVariable)) {
    resources[`LiteLlmUnavailable${logicalPart(target)}Alarm`] = countAlarm(
      topic,
      `${prefix}-litellm-unavailable-${target}`,
      `LiteLLM target ${target} unreachable in 3 of 5 minutes. ${see('litellm-unavailable')}`,
      own('LiteLlmUnavailable', [{ Name: 'target', Value: target }]),
      { period: 60, periods: 5, datapoints: 3 },
    );
  }
  // Lambda's own counts, one alarm per function: its name says which function, and a metric-math
  // alarm over all would have to list every function's metric anyway, and say less.
  for (const { key, logicalId } of await functionsOf(resolveVariable)) {
    const lambdaMetric = (metric) => ({
      Namespace: 'AWS/Lambda',
      MetricName: metric,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId } }],
    });
    resources[`${logicalPart(key)}ErrorsAlarm`] = countAlarm(
      topic,
      `${prefix}-${key}-errors`,
      `Function ${key}: invocations that failed. ${see('function-errors')}`,
      lambdaMetric('Errors'),
    );
    if (NO_THROTTLE_ALARM.has(key)) continue;
    resources[`${logicalPart(key)}ThrottlesAlarm`] = countAlarm(
      topic,
      `${prefix}-${key}-throttles`,
      `Function ${key}: invocations throttled in 3 of 5 minutes. ${see('function-throttles')}`,
      lambdaMetric('Throttles'),
      { period: 60, periods: 5, datapoints: 3 },
    );
  }
  // An operation that failed for a reason not the caller's; Refusals (4xx) never page.
  for (const operation of OPERATIONS) {
    resources[`${logicalPart(operation)}FailuresAlarm`] = countAlarm(
      topic,
      `${prefix}-${operation}-failures`,
      `${operation}: an operation failed (5xx, LiteLLM or AWS down, lease lost). ${see('failures')}`,
      own('Failures', [{ Name: 'operation', Value: operation }]),
    );
  }
  return { topic, resources: { Resources: resources } };
};
