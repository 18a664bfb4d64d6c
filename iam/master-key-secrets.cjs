/*
 * The master-key secrets of the deployment's LiteLLM targets, as the IAM resources of the roles
 * that read them: each granted by name (or by the ARN given), never by wildcard. From the stage
 * parameter litellmTargets when set (the JSON of LITELLM_TARGETS), else masterKeySecretId.
 */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:/;

function resourceOf(secretId) {
  // Secrets Manager appends "-" and six characters to a secret's name in its ARN.
  if (SECRET_ARN.test(secretId)) return secretId;
  return {
    'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${secretId}-??????`,
  };
}

function secretIdsOf(targetsJson) {
  let targets;
  try {
    targets = JSON.parse(targetsJson);
  } catch (error) {
    throw new Error(`param litellmTargets is not JSON: ${error.message}`);
  }
  if (!targets || typeof targets !== 'object' || Array.isArray(targets))
    throw new Error('param litellmTargets must be a JSON object of targets by name');
  return Object.entries(targets).map(([name, target]) => {
    const id =
      target && typeof target.master_key_secret_id === 'string' ? target.master_key_secret_id.trim() : '';
    if (!id) throw new Error(`param litellmTargets: target "${name}" field master_key_secret_id is required`);
    return id;
  });
}

module.exports = async ({ resolveVariable }) => {
  const targets = String((await resolveVariable('param:litellmTargets')) ?? '').trim();
  const ids = targets ? secretIdsOf(targets) : [String(await resolveVariable('param:masterKeySecretId'))];
  const resources = [...new Set(ids)].map(resourceOf);
  // One target keeps the template a single-target deployment always had.
  return { resources: resources.length === 1 ? resources[0] : resources };
};
