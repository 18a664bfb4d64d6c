/** Every `detail-type` this service puts on its bus (source `litellm.virtual-keys`), in one place. */
export const DETAIL_TYPES = {
  provisioned: 'Virtual Key Provisioned',
  destroyed: 'Virtual Key Destroyed',
  extended: 'Virtual Key Extended',
  moved: 'Virtual Key Moved',
  failed: 'Virtual Key Failed',
  expiring: 'Virtual Key Expiring',
  swept: 'Virtual Keys Swept',
} as const;
