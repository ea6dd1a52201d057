/** Every bucket and object has the same owner: the server has one tenant. */
export const OWNER = { ID: 'ossencfs', DisplayName: 'ossencfs' };
export const LOCATION = 'oss-cn-hangzhou';

export function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}
