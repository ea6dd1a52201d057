/*
 * ossencfs: attributes answered without a trip into JavaScript. #included into fuse-native.c by
 * patches/0003-attr-cache.patch.
 *
 * `ls -l` of a directory is one LOOKUP per name, each a getattr in libfuse's high-level API, and
 * fuse-native answers every one in JavaScript: two more cross-thread wake-ups per name, which on
 * this kind of machine cost more than the kernel's round trip itself (`ls -l` of 10,000 names
 * answered from memory: 0.70-1.40 s through JavaScript, 0.28-0.35 s from here).
 *
 * The mount puts the attributes it fetched ahead for a listing (src/fuse/nativeAttrCache.ts) here
 * with the same lifetime its own cache gives them (src/vfs/attrCache.ts): held until their
 * first use, then kept for the TTL. Every operation that can change anything clears the whole
 * table, on the JavaScript thread, when it starts and before it answers (src/fuse/operations.ts),
 * so an answer from here is one JavaScript could have given at that moment. An entry is used by one
 * side only: when JavaScript answers a getattr itself (the entry had not arrived yet, or the
 * kernel asked before it did), it drops the entry here, or a later first use here would start the
 * TTL again. Only getattr by path is answered here; fgetattr (an open file) goes to JavaScript.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OSSENCFS_STAT_INTS 18           /* fuse-native's stat array, read by populate_stat */
/* ~130 bytes each with a short path: at most ~70 MiB, as many as the JavaScript attribute cache
   keeps (ATTR_CACHE_ENTRIES). What is held lives only until its hold or TTL ends, and expired
   entries are swept whenever the table has doubled since the last sweep, so it holds about the
   names listed within the longest hold: a directory of 100,000 names is held whole. */
#define OSSENCFS_ATTR_MAX_ENTRIES 524288
#define OSSENCFS_ATTR_MIN_BUCKETS 16384 /* a power of two; doubled as entries grow past twice the buckets */
#define OSSENCFS_ATTR_MIN_SWEEP 65536   /* entries before the first sweep */

typedef struct ossencfs_attr_entry {
  struct ossencfs_attr_entry *next;
  uint64_t hash;
  uint64_t deadline_ms; /* CLOCK_MONOTONIC */
  uint32_t ttl_ms;      /* the lifetime from the first use on */
  uint32_t stat[OSSENCFS_STAT_INTS]; /* fuse-native's stat array: half the size of a struct stat */
  char path[];
} ossencfs_attr_entry;

static pthread_mutex_t ossencfs_attr_lock = PTHREAD_MUTEX_INITIALIZER;
static ossencfs_attr_entry **ossencfs_attr_buckets;
static size_t ossencfs_attr_bucket_count;
static size_t ossencfs_attr_count;
static size_t ossencfs_attr_sweep_at = OSSENCFS_ATTR_MIN_SWEEP;
static uint64_t ossencfs_attr_hits;

static uint64_t ossencfs_now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* FNV-1a */
static uint64_t ossencfs_path_hash (const char *path, size_t len) {
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char) path[i]) * 1099511628211ULL;
  return h;
}

/* The entry for `path` and the link pointing at it; callers hold the lock and have buckets. */
static ossencfs_attr_entry **ossencfs_attr_find (const char *path, size_t len, uint64_t hash) {
  ossencfs_attr_entry **link = &ossencfs_attr_buckets[hash & (ossencfs_attr_bucket_count - 1)];
  for (; *link != NULL; link = &(*link)->next) {
    if ((*link)->hash == hash && strncmp((*link)->path, path, len) == 0 && (*link)->path[len] == '\0') break;
  }
  return link;
}

static void ossencfs_attr_unlink (ossencfs_attr_entry **link) {
  ossencfs_attr_entry *gone = *link;
  *link = gone->next;
  free(gone);
  ossencfs_attr_count--;
}

/* Drops entries past their deadline; callers hold the lock. */
static void ossencfs_attr_sweep (uint64_t now) {
  for (size_t b = 0; b < ossencfs_attr_bucket_count; b++) {
    ossencfs_attr_entry **link = &ossencfs_attr_buckets[b];
    while (*link != NULL) {
      if ((*link)->deadline_ms <= now) ossencfs_attr_unlink(link);
      else link = &(*link)->next;
    }
  }
  ossencfs_attr_sweep_at = 2 * ossencfs_attr_count > OSSENCFS_ATTR_MIN_SWEEP ? 2 * ossencfs_attr_count : OSSENCFS_ATTR_MIN_SWEEP;
}

/* Buckets for `count` entries: made at the first put, doubled (rehashing) as the table grows; callers hold the lock. 0 when out of memory. */
static int ossencfs_attr_buckets_for (size_t count) {
  size_t want = ossencfs_attr_bucket_count ? ossencfs_attr_bucket_count : OSSENCFS_ATTR_MIN_BUCKETS;
  while (count > 2 * want) want *= 2;
  if (want == ossencfs_attr_bucket_count) return 1;
  ossencfs_attr_entry **grown = calloc(want, sizeof(*grown));
  if (grown == NULL) return ossencfs_attr_bucket_count != 0;
  for (size_t b = 0; b < ossencfs_attr_bucket_count; b++) {
    while (ossencfs_attr_buckets[b] != NULL) {
      ossencfs_attr_entry *e = ossencfs_attr_buckets[b];
      ossencfs_attr_buckets[b] = e->next;
      e->next = grown[e->hash & (want - 1)];
      grown[e->hash & (want - 1)] = e;
    }
  }
  free(ossencfs_attr_buckets);
  ossencfs_attr_buckets = grown;
  ossencfs_attr_bucket_count = want;
  return 1;
}

/* 1 and the attributes when `path` is here and current; 0 sends the getattr to JavaScript. */
static int ossencfs_attr_get (const char *path, struct stat *st) {
  int found = 0;
  pthread_mutex_lock(&ossencfs_attr_lock);
  /* Empty between listings: then every getattr passes straight through. */
  if (ossencfs_attr_count > 0) {
    size_t len = strlen(path);
    uint64_t hash = ossencfs_path_hash(path, len);
    uint64_t now = ossencfs_now_ms();
    ossencfs_attr_entry **link = ossencfs_attr_find(path, len, hash);
    if (*link != NULL && (*link)->deadline_ms <= now) {
      ossencfs_attr_unlink(link);
    } else if (*link != NULL) {
      ossencfs_attr_entry *e = *link;
      /* The first use starts the TTL, as AttrCache.used() does. */
      if (e->deadline_ms - now > e->ttl_ms) e->deadline_ms = now + e->ttl_ms;
      memset(st, 0, sizeof(*st));
      populate_stat(e->stat, st);
      ossencfs_attr_hits++;
      found = 1;
    }
  }
  pthread_mutex_unlock(&ossencfs_attr_lock);
  return found;
}

static int ossencfs_getattr (const char *path, struct stat *st) {
  if (ossencfs_attr_get(path, st)) return 0;
  return fuse_native_getattr(path, st);
}

/*
 * attrCachePut(records, ttlMs): records are [u32 path length][path, zero-padded to 4 bytes]
 * [u32 hold, ms][18 u32: fuse-native's stat array], each held its hold until its first use, then
 * kept ttlMs.
 */
NAPI_METHOD(ossencfs_attr_cache_put) {
  NAPI_ARGV(2)
  NAPI_ARGV_BUFFER(records, 0)
  NAPI_ARGV_UINT32(ttl_ms, 1)
  uint64_t now = ossencfs_now_ms();
  size_t at = 0;
  pthread_mutex_lock(&ossencfs_attr_lock);
  if (ossencfs_attr_count >= ossencfs_attr_sweep_at) ossencfs_attr_sweep(now);
  while (at + 4 <= records_len) {
    uint32_t len;
    memcpy(&len, records + at, 4);
    size_t padded = (len + 3) & ~(size_t) 3;
    if (at + 4 + padded + 4 + OSSENCFS_STAT_INTS * 4 > records_len) break;
    const char *path = records + at + 4;
    uint32_t hold_ms;
    memcpy(&hold_ms, records + at + 4 + padded, 4);
    const char *ints = records + at + 4 + padded + 4;
    at += 4 + padded + 4 + OSSENCFS_STAT_INTS * 4;

    if (!ossencfs_attr_buckets_for(ossencfs_attr_count + 1)) break;
    uint64_t hash = ossencfs_path_hash(path, len);
    ossencfs_attr_entry **link = ossencfs_attr_find(path, len, hash);
    if (*link != NULL) ossencfs_attr_unlink(link);
    if (ossencfs_attr_count >= OSSENCFS_ATTR_MAX_ENTRIES) continue;
    ossencfs_attr_entry *e = malloc(sizeof(*e) + len + 1);
    if (e == NULL) continue;
    memcpy(e->path, path, len);
    e->path[len] = '\0';
    e->hash = hash;
    e->deadline_ms = now + hold_ms;
    e->ttl_ms = ttl_ms;
    memcpy(e->stat, ints, sizeof(e->stat));
    e->next = *link;
    *link = e;
    ossencfs_attr_count++;
  }
  pthread_mutex_unlock(&ossencfs_attr_lock);
  return NULL;
}

/* attrCacheForget(path): JavaScript answered a getattr of `path`; that answer was its first use. */
NAPI_METHOD(ossencfs_attr_cache_forget) {
  NAPI_ARGV(1)
  NAPI_ARGV_UTF8_MALLOC(path, 0)
  size_t len = strlen(path);
  uint64_t hash = ossencfs_path_hash(path, len);
  pthread_mutex_lock(&ossencfs_attr_lock);
  if (ossencfs_attr_count > 0) {
    ossencfs_attr_entry **link = ossencfs_attr_find(path, len, hash);
    if (*link != NULL) ossencfs_attr_unlink(link);
  }
  pthread_mutex_unlock(&ossencfs_attr_lock);
  free(path);
  return NULL;
}

/* attrCacheClear(): forget every entry. */
NAPI_METHOD(ossencfs_attr_cache_clear) {
  pthread_mutex_lock(&ossencfs_attr_lock);
  if (ossencfs_attr_count > 0) {
    for (size_t b = 0; b < ossencfs_attr_bucket_count; b++) {
      while (ossencfs_attr_buckets[b] != NULL) ossencfs_attr_unlink(&ossencfs_attr_buckets[b]);
    }
  }
  pthread_mutex_unlock(&ossencfs_attr_lock);
  return NULL;
}

/* attrCacheStats(): [entries, getattrs answered here since the process started] (for the debug log). */
NAPI_METHOD(ossencfs_attr_cache_stats) {
  napi_value result, entries, hits;
  pthread_mutex_lock(&ossencfs_attr_lock);
  napi_create_double(env, (double) ossencfs_attr_count, &entries);
  napi_create_double(env, (double) ossencfs_attr_hits, &hits);
  pthread_mutex_unlock(&ossencfs_attr_lock);
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, entries);
  napi_set_element(env, result, 1, hits);
  return result;
}
