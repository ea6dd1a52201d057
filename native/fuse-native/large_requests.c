/*
 * ossencfs: 1 MiB FUSE requests. #included into fuse-native.c by patches/0002-large-requests.patch.
 *
 * libfuse2 speaks FUSE protocol 7.19. It never answers the kernel's FUSE_MAX_PAGES offer (7.28),
 * so the kernel caps every read and write at 32 pages (128 KiB), and the mount pays a round trip
 * into JavaScript (three cross-thread wake-ups) per 128 KiB. libfuse2 lets a program supply its
 * own channel to /dev/fuse. This one does what libfuse's kernel channel does (the same read and
 * writev, the same error handling) with a buffer for 1 MiB writes, and it adds max_pages to
 * libfuse's INIT reply when the kernel offered it. An older kernel gets libfuse's reply as it was.
 */
#include <fuse_lowlevel.h>
#include <fuse_kernel.h>
#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#define OSSENCFS_FUSE_MAX_PAGES (1 << 22) /* the flag, protocol 7.28 */
#define OSSENCFS_MAX_PAGES 256            /* 1 MiB of 4 KiB pages; the kernel clamps it to fs.fuse.max_pages_limit */
#define OSSENCFS_HEADER_ROOM 0x1000       /* libfuse's FUSE_BUFFER_HEADER_SIZE */

/* fuse_init_out as the kernel reads it since protocol 7.28; libfuse2 fills the first 24 bytes. */
struct ossencfs_init_out {
  struct fuse_init_out v7_19;
  uint32_t time_gran;
  uint16_t max_pages;
  uint16_t map_alignment;
  uint32_t flags2;
  uint32_t unused[7];
};

/* The INIT request comes once, before any other, so plain statics are enough. */
static uint64_t ossencfs_init_unique;
static int ossencfs_init_offered;

static int ossencfs_chan_receive (struct fuse_chan **chp, char *buf, size_t size) {
  struct fuse_chan *ch = *chp;
  struct fuse_session *se = fuse_chan_session(ch);
  ssize_t res;
  int err;
restart:
  res = read(fuse_chan_fd(ch), buf, size);
  err = errno;
  if (fuse_session_exited(se)) return 0;
  if (res == -1) {
    if (err == ENOENT) goto restart; /* the request was interrupted */
    if (err == ENODEV) {             /* unmounted */
      fuse_session_exit(se);
      return 0;
    }
    if (err != EINTR && err != EAGAIN) perror("fuse: reading device");
    return -err;
  }
  if ((size_t) res < sizeof(struct fuse_in_header)) {
    fprintf(stderr, "short read on fuse device\n");
    return -EIO;
  }
  const struct fuse_in_header *in = (const struct fuse_in_header *) buf;
  if (in->opcode == FUSE_INIT && (size_t) res >= sizeof(*in) + sizeof(struct fuse_init_in)) {
    const struct fuse_init_in *init = (const struct fuse_init_in *) (buf + sizeof(*in));
    if (init->major == 7 && init->minor >= 28 && (init->flags & OSSENCFS_FUSE_MAX_PAGES)) {
      ossencfs_init_unique = in->unique;
      ossencfs_init_offered = 1;
    }
  }
  return res;
}

static int ossencfs_chan_send (struct fuse_chan *ch, const struct iovec iov[], size_t count) {
  if (iov == NULL) return 0;
  struct fuse_out_header out;
  struct ossencfs_init_out init;
  struct iovec patched[2];
  const struct fuse_out_header *reply = (const struct fuse_out_header *) iov[0].iov_base;
  if (ossencfs_init_offered && count == 2 && iov[0].iov_len == sizeof(out) && reply->unique == ossencfs_init_unique &&
      reply->error == 0 && iov[1].iov_len == sizeof(struct fuse_init_out)) {
    ossencfs_init_offered = 0;
    memset(&init, 0, sizeof(init));
    memcpy(&init.v7_19, iov[1].iov_base, sizeof(init.v7_19));
    init.v7_19.flags |= OSSENCFS_FUSE_MAX_PAGES;
    init.max_pages = OSSENCFS_MAX_PAGES;
    out = *reply;
    out.len = sizeof(out) + sizeof(init);
    patched[0].iov_base = &out;
    patched[0].iov_len = sizeof(out);
    patched[1].iov_base = &init;
    patched[1].iov_len = sizeof(init);
    iov = patched;
  }
  ssize_t res = writev(fuse_chan_fd(ch), iov, count);
  int err = errno;
  if (res == -1) {
    if (!fuse_session_exited(fuse_chan_session(ch)) && err != ENOENT) perror("fuse: writing device");
    return -err;
  }
  return 0;
}

/* The descriptor stays the kernel channel's: fuse_unmount closes it, so closing it here too could
   close whatever the process opened next under the same number. */
static void ossencfs_chan_destroy (struct fuse_chan *ch) {
  (void) ch;
}

/* A channel on the kernel channel's descriptor for fuse_new; NULL if it cannot be made. */
static struct fuse_chan *ossencfs_large_requests (struct fuse_chan *kernel) {
  static struct fuse_chan_ops ops = {
    .receive = ossencfs_chan_receive,
    .send = ossencfs_chan_send,
    .destroy = ossencfs_chan_destroy,
  };
  size_t bufsize = OSSENCFS_MAX_PAGES * getpagesize() + OSSENCFS_HEADER_ROOM;
  return fuse_chan_new(&ops, fuse_chan_fd(kernel), bufsize, NULL);
}
