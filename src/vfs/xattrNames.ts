import { FsError } from '../errors.js';
import type { Xattrs } from '../secure/index.js';

/** setxattr(2) flags. */
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/**
 * Only the user namespace is kept. security.* and trusted.* belong to the kernel and its security
 * modules on a local disk; stored here they would be labels nothing enforces. system.posix_acl_*
 * never arrive: a FUSE 2.9 filesystem cannot declare ACL support, so the kernel refuses them itself.
 */
export function isStored(name: string): boolean {
  return name.startsWith('user.');
}

/** The set with `name` set to `value`, as setxattr(2) with `flags` would leave it. */
export function withXattr(set: Xattrs, name: string, value: Buffer, flags: number): Map<string, Buffer> {
  if (!isStored(name)) throw new FsError('EOPNOTSUPP', `extended attribute ${name}: only user.* names are kept`);
  const present = set.has(name);
  if (flags & XATTR_CREATE && present) throw new FsError('EEXIST', `extended attribute ${name} exists`);
  if (flags & XATTR_REPLACE && !present) throw new FsError('ENODATA', `no extended attribute ${name}`);
  return new Map(set).set(name, value);
}

/** The set without `name`; ENODATA when it has none. */
export function withoutXattr(set: Xattrs, name: string): Map<string, Buffer> {
  if (!set.has(name)) throw new FsError('ENODATA', `no extended attribute ${name}`);
  const rest = new Map(set);
  rest.delete(name);
  return rest;
}
