/*
 * The stage parameter keyValuesKmsKeyArn, checked: empty (the stack creates the key, see
 * resources/key-values-key.yml) or one whole KMS key ARN. The roles are granted that ARN and the
 * functions seal with it, so an alias, a bare key id or a typo would leave every seal and open
 * denied; it fails the deploy instead.
 */
const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/(?:mrk-)?[0-9a-f-]+$/;

module.exports = async ({ resolveVariable }) => {
  const arn = String((await resolveVariable('param:keyValuesKmsKeyArn')) ?? '').trim();
  if (arn && !KEY_ARN.test(arn)) {
    throw new Error(
      `param keyValuesKmsKeyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not ${JSON.stringify(arn)}`,
    );
  }
  // What grants and functions name: the stack's key or the operator's, decided here rather than by
  // an Fn::If whose unused branch would be "" (cfn-lint E3510 on every grant: not an ARN).
  return { arn, resource: arn || { 'Fn::GetAtt': ['KeyValuesKey', 'Arn'] } };
};
