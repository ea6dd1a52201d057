import type { ListOptions, ListPage } from './ObjectStore.js';

/** Anything that lists like an ObjectStore (the store itself, or an EncryptedBucket). */
export interface Lister {
  list(prefix: string, options?: ListOptions): Promise<ListPage>;
}

/** Every page of a listing, following continuations (the store's largest pages). */
export async function* listPages(lister: Lister, prefix: string, delimiter?: string): AsyncGenerator<ListPage> {
  let after: string | undefined;
  do {
    const page = await lister.list(prefix, { ...(delimiter ? { delimiter } : {}), ...(after ? { after } : {}) });
    yield page;
    after = page.next;
  } while (after !== undefined);
}
