#ifndef SHOAL_FSUTIL_H
#define SHOAL_FSUTIL_H

#include <stdbool.h>

/*
 * File-system helpers shared by shoald and the node agent.
 *
 * fsutil_rm_under: remove everything inside the directory dirfd (which it
 * takes and closes), never following a symbolic link: a link is removed as
 * a link, subdirectories are opened with O_NOFOLLOW relative to their
 * parent, so nothing outside the tree can be reached even if a process
 * swaps entries while it runs. Depth-bounded (256); entries that cannot be
 * removed are left. The directory itself stays.
 */
void fsutil_rm_under(int dirfd);

/*
 * fsutil_walk: open rel (components separated by '/') under the directory
 * dirfd (taken), one component at a time with O_NOFOLLOW, so no symlink
 * on the way is followed, whoever planted it and whenever. An empty,
 * "." or ".." component, or one of FSUTIL_NAME_MAX bytes or more, is
 * FSUTIL_WALK_INVALID; a component that does not open (missing, a
 * symlink, hidden) or a trailing '/' is FSUTIL_WALK_NOTFOUND. hidden, if
 * not NULL, is a first component that is never opened. On OK, *fd_out is
 * an O_RDONLY descriptor of the file or directory ("" gives dirfd
 * itself). With parent_out, rel must not be empty (else INVALID), and
 * *parent_out is the directory holding the last component, reached by the
 * same walk, and leaf its name: what a delete unlinks from.
 *
 * fsutil_rel_name_ok: whether s (not empty) has no empty, "." or ".."
 * component.
 */
#define FSUTIL_NAME_MAX 1024
enum fsutil_walk {
    FSUTIL_WALK_OK = 0,
    FSUTIL_WALK_INVALID = -1,
    FSUTIL_WALK_NOTFOUND = -2,
};
enum fsutil_walk fsutil_walk(int dirfd, const char *rel, const char *hidden,
                             int *fd_out, int *parent_out,
                             char leaf[FSUTIL_NAME_MAX]);
bool fsutil_rel_name_ok(const char *s);

#endif
