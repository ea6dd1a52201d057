/*
 * ossencfs: a directory's names handed to the kernel as they are listed. #included into
 * fuse-native.c by patches/0006-readdir-stream.patch.
 *
 * fuse-native answers readdir once, with every name: a bucket lists 1,000 keys a request, so the
 * kernel sees nothing of a 10,000-name directory until the tenth page is in, and `ls -l` (which
 * stats each name as getdents returns it) then starts its 10,000 lookups. Here opendir asks
 * JavaScript for the listing (ossencfs_readdir_serve's function, called with a stream id and the
 * path), JavaScript pushes the names page by page (ossencfs_readdir_push), and readdir answers
 * from what has arrived, in libfuse's offset mode: a reader waits only for names not in yet, and
 * looks the first page's names up while the next pages are on the wire.
 *
 * A stream lives from opendir to releasedir (libfuse waits for a readdir in flight on the handle
 * before releasing it). A push for a stream released already is dropped. Offsets are positions in
 * the stream: ".", "..", then the names in the order pushed, so seekdir and a rewind read the same
 * listing. An error pushed with no more names ends the stream: a readdir past the names it got
 * answers that errno.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct ossencfs_dir_stream {
  struct ossencfs_dir_stream *next; /* in ossencfs_streams, under ossencfs_streams_lock */
  uint32_t id;
  pthread_mutex_t lock;
  pthread_cond_t arrived;
  char *names;        /* each name NUL-terminated, in the order pushed */
  size_t names_len, names_cap;
  size_t *starts;     /* where each name starts in `names` */
  size_t count, starts_cap;
  int done;
  int error;          /* an errno when the listing failed */
} ossencfs_dir_stream;

static napi_threadsafe_function ossencfs_readdir_tsfn;
static pthread_mutex_t ossencfs_streams_lock = PTHREAD_MUTEX_INITIALIZER;
static ossencfs_dir_stream *ossencfs_streams;
static uint32_t ossencfs_stream_next_id;

typedef struct {
  uint32_t id;
  char path[];
} ossencfs_stream_request;

/* On the JavaScript thread: calls the serving function with (id, path). */
static void ossencfs_readdir_call_js (napi_env env, napi_value fn, void *context, void *data) {
  ossencfs_stream_request *req = (ossencfs_stream_request *) data;
  if (env != NULL && fn != NULL) {
    napi_value global, argv[2];
    napi_get_global(env, &global);
    napi_create_uint32(env, req->id, &argv[0]);
    napi_create_string_utf8(env, req->path, NAPI_AUTO_LENGTH, &argv[1]);
    napi_call_function(env, global, fn, 2, argv, NULL);
  }
  free(req);
}

/* The stream `id`, locked, with ossencfs_streams_lock released; NULL once it is released. */
static ossencfs_dir_stream *ossencfs_stream_locked (uint32_t id) {
  pthread_mutex_lock(&ossencfs_streams_lock);
  ossencfs_dir_stream *s = ossencfs_streams;
  while (s != NULL && s->id != id) s = s->next;
  if (s != NULL) pthread_mutex_lock(&s->lock);
  pthread_mutex_unlock(&ossencfs_streams_lock);
  return s;
}

static void ossencfs_stream_end (ossencfs_dir_stream *s, int error) {
  s->done = 1;
  s->error = error;
  pthread_cond_broadcast(&s->arrived);
}

static int ossencfs_opendir (const char *path, struct fuse_file_info *info) {
  ossencfs_dir_stream *s = calloc(1, sizeof(*s));
  size_t len = strlen(path);
  ossencfs_stream_request *req = malloc(sizeof(*req) + len + 1);
  if (s == NULL || req == NULL) {
    free(s);
    free(req);
    return -ENOMEM;
  }
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->arrived, NULL);
  pthread_mutex_lock(&ossencfs_streams_lock);
  s->id = req->id = ++ossencfs_stream_next_id;
  s->next = ossencfs_streams;
  ossencfs_streams = s;
  pthread_mutex_unlock(&ossencfs_streams_lock);
  memcpy(req->path, path, len + 1);
  if (napi_call_threadsafe_function(ossencfs_readdir_tsfn, req, napi_tsfn_nonblocking) != napi_ok) {
    free(req);
    pthread_mutex_lock(&s->lock);
    ossencfs_stream_end(s, EIO);
    pthread_mutex_unlock(&s->lock);
  }
  info->fh = (uint64_t) (uintptr_t) s;
  return 0;
}

static int ossencfs_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *info) {
  ossencfs_dir_stream *s = (ossencfs_dir_stream *) (uintptr_t) info->fh;
  if (s == NULL) return -EBADF;
  /* "." and ".." come first, but a listing that fails at once answers its errno instead. */
  size_t wanted = offset < 2 ? 1 : (size_t) offset - 1;
  pthread_mutex_lock(&s->lock);
  while (!s->done && s->count < wanted) pthread_cond_wait(&s->arrived, &s->lock);
  if (s->error != 0 && s->count < wanted) {
    int error = s->error;
    pthread_mutex_unlock(&s->lock);
    return -error;
  }
  for (size_t at = (size_t) offset; at < s->count + 2; at++) {
    const char *name = at == 0 ? "." : at == 1 ? ".." : s->names + s->starts[at - 2];
    if (filler(buf, name, NULL, (off_t) at + 1)) break;
  }
  pthread_mutex_unlock(&s->lock);
  return 0;
}

static int ossencfs_releasedir (const char *path, struct fuse_file_info *info) {
  ossencfs_dir_stream *s = (ossencfs_dir_stream *) (uintptr_t) info->fh;
  if (s == NULL) return 0;
  pthread_mutex_lock(&ossencfs_streams_lock);
  ossencfs_dir_stream **link = &ossencfs_streams;
  while (*link != NULL && *link != s) link = &(*link)->next;
  if (*link != NULL) *link = s->next;
  /* A push holds ossencfs_streams_lock until it has s->lock: after this, none is under way. */
  pthread_mutex_lock(&s->lock);
  pthread_mutex_unlock(&s->lock);
  pthread_mutex_unlock(&ossencfs_streams_lock);
  pthread_cond_destroy(&s->arrived);
  pthread_mutex_destroy(&s->lock);
  free(s->names);
  free(s->starts);
  free(s);
  return 0;
}

/* Whether JavaScript serves listings this way: then the mount takes opendir, readdir and releasedir. */
static int ossencfs_readdir_streaming (void) {
  return ossencfs_readdir_tsfn != NULL;
}

/* ossencfsReaddirServe(fn): fn(id, path) is called for each opendir; it answers with ossencfs_readdir_push. */
NAPI_METHOD(ossencfs_readdir_serve) {
  NAPI_ARGV(1)
  napi_value name;
  napi_create_string_utf8(env, "ossencfs readdir", NAPI_AUTO_LENGTH, &name);
  /* A later mount in the process serves its own listings. */
  if (ossencfs_readdir_tsfn != NULL) napi_release_threadsafe_function(ossencfs_readdir_tsfn, napi_tsfn_release);
  napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, ossencfs_readdir_call_js, &ossencfs_readdir_tsfn);
  /* It must not keep the process alive: the mount does that while it lasts. */
  napi_unref_threadsafe_function(env, ossencfs_readdir_tsfn);
  return NULL;
}

/*
 * ossencfsReaddirPush(id, names, errno): `names` (each NUL-terminated) join stream `id`; an errno
 * ends it, 0 for the listing complete and -1 for more to come.
 */
NAPI_METHOD(ossencfs_readdir_push) {
  NAPI_ARGV(3)
  NAPI_ARGV_UINT32(id, 0)
  NAPI_ARGV_BUFFER(names, 1)
  NAPI_ARGV_INT32(end, 2)
  ossencfs_dir_stream *s = ossencfs_stream_locked(id);
  if (s == NULL) return NULL;
  int failed = 0;
  if (s->names_len + names_len > s->names_cap) {
    size_t cap = s->names_cap ? s->names_cap : 4096;
    while (cap < s->names_len + names_len) cap *= 2;
    char *grown = realloc(s->names, cap);
    if (grown == NULL) failed = 1;
    else s->names = grown, s->names_cap = cap;
  }
  for (size_t at = 0; !failed && at < names_len;) {
    size_t len = strnlen(names + at, names_len - at);
    if (at + len == names_len) break; /* not terminated: not a name */
    if (s->count == s->starts_cap) {
      size_t cap = s->starts_cap ? s->starts_cap * 2 : 1024;
      size_t *grown = realloc(s->starts, cap * sizeof(size_t));
      if (grown == NULL) {
        failed = 1;
        break;
      }
      s->starts = grown, s->starts_cap = cap;
    }
    memcpy(s->names + s->names_len, names + at, len + 1);
    s->starts[s->count++] = s->names_len;
    s->names_len += len + 1;
    at += len + 1;
  }
  if (failed) ossencfs_stream_end(s, ENOMEM);
  else if (end >= 0) ossencfs_stream_end(s, end);
  else pthread_cond_broadcast(&s->arrived);
  pthread_mutex_unlock(&s->lock);
  return NULL;
}
