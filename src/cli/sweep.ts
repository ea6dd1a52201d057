import type { ObjectInfo } from '../store/ObjectStore.js';
import { createLimiter } from '../util/limit.js';
import { objectError, objectsAt, reasonOf } from './listing.js';
import { type OpenedBucket, ossUrl, type OssLocation, type Settings } from './options.js';
import { createProgress } from './progress.js';

/**
 * Runs `visit` over every object a url names, --jobs at a time, with a progress bar, and prints
 * `FAIL oss://b/k: <reason>` for each object it throws on. Returns how many visits gave each
 * outcome, plus `failed`. A visit may report its progress through an object in bytes (`advance`);
 * whatever it did not report counts when it ends.
 */
export async function sweep<Outcome extends string>(
  opened: OpenedBucket,
  loc: OssLocation,
  settings: Settings,
  o: { label: string; unit: 'bytes' | 'objects' },
  visit: (object: ObjectInfo, advance: (bytes: number) => void) => Promise<Outcome>,
): Promise<{ counts: Map<string, number>; objects: ObjectInfo[] }> {
  const objects = await objectsAt(opened.store, loc.prefix).catch((err: unknown) => {
    throw objectError(err, loc.bucket, loc.prefix);
  });
  const weight = (object: ObjectInfo): number => (o.unit === 'bytes' ? object.size : 1);
  const progress = createProgress({ label: o.label, total: objects.reduce((s, x) => s + weight(x), 0), unit: o.unit, quiet: settings.quiet });
  const counts = new Map<string, number>();
  const count = (outcome: Outcome | 'failed'): void => void counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  const limit = createLimiter(settings.jobs);
  try {
    await Promise.all(
      objects.map((object) =>
        limit(async () => {
          let advanced = 0;
          const advance = (bytes: number): void => {
            if (o.unit !== 'bytes') return;
            advanced += bytes;
            progress.add(bytes);
          };
          try {
            count(await visit(object, advance));
          } catch (err) {
            count('failed');
            process.stdout.write(`FAIL ${ossUrl(loc.bucket, object.key)}: ${reasonOf(err, loc.bucket, object.key)}\n`);
          } finally {
            progress.add(Math.max(0, weight(object) - advanced));
          }
        }),
      ),
    );
  } finally {
    progress.stop();
  }
  return { counts, objects };
}
