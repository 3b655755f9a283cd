/**
 * For `afterAll`: closes what `beforeAll` opened. A `beforeAll` that failed leaves its variable unassigned, although
 * its type (assigned before every test) says otherwise, so the check for undefined belongs here and is no mistake.
 */
export async function closeIfOpened(resource: { close(): Promise<unknown> } | undefined): Promise<void> {
  await resource?.close();
}
