/*
 * The destroy function's network, from the stage parameters destroySubnetIds and
 * destroySecurityGroupIds (comma-separated ids; both empty: no VPC). Only destroy may need one: the
 * direct deletion from LiteLLM's Postgres (FORCE_DB_DELETE) reaches a database that is often
 * private. A VPC needs both lists, so one without the other fails the deploy instead of leaving the
 * function outside the network it was meant for.
 */
const SUBNET = /^subnet-[0-9a-f]{8,17}$/;
const SECURITY_GROUP = /^sg-[0-9a-f]{8,17}$/;

async function idsOf(resolveVariable, name, pattern) {
  const ids = String((await resolveVariable(`param:${name}`)) ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  const bad = ids.find((id) => !pattern.test(id));
  if (bad)
    throw new Error(`param ${name}: ${JSON.stringify(bad)} is not an id of the form ${pattern.source}`);
  return ids;
}

module.exports = async ({ resolveVariable }) => {
  const subnetIds = await idsOf(resolveVariable, 'destroySubnetIds', SUBNET);
  const securityGroupIds = await idsOf(resolveVariable, 'destroySecurityGroupIds', SECURITY_GROUP);
  if (subnetIds.length > 0 !== securityGroupIds.length > 0) {
    throw new Error('params destroySubnetIds and destroySecurityGroupIds go together: set both, or neither');
  }
  const ec2 = (type, id) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:${type}/${id}`,
  });
  return {
    // false: no VpcConfig at all (osls's way to opt a function out of a VPC).
    vpc: subnetIds.length > 0 ? { subnetIds, securityGroupIds } : false,
    // ec2:CreateNetworkInterface is authorized on the new interface and on the subnet and security
    // groups it is made in: these subnets and groups only.
    networkInterfaceParts: [
      ec2('network-interface', '*'),
      ...subnetIds.map((id) => ec2('subnet', id)),
      ...securityGroupIds.map((id) => ec2('security-group', id)),
    ],
  };
};
