/*
 * fsutil.c: file-system helpers shared by shoald and the node agent (see
 * fsutil.h): the symlink-safe tree removal and path walk that the Batch
 * file API (src/batch/file_api.c) and the agent's file server
 * (src/node/fileserve.c) share. Everything works relative to directory
 * descriptors, so a path component swapped for a symlink while we work is
 * never followed.
 */
#include "core/fsutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define RM_MAX_DEPTH 256

static void rm_under(int dirfd, int depth)
{
    DIR *d;
    struct dirent *e;

    if (depth > RM_MAX_DEPTH) {
        close(dirfd);
        return;
    }
    d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        int sub;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd, e->d_name, 0) == 0)
            continue; /* a file or a link */
        sub = openat(dirfd, e->d_name,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        rm_under(sub, depth + 1);
        unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

void fsutil_rm_under(int dirfd)
{
    rm_under(dirfd, 0);
}

static bool bad_component(const char *p, size_t n)
{
    return n == 0 || (n == 1 && p[0] == '.') ||
           (n == 2 && p[0] == '.' && p[1] == '.');
}

bool fsutil_rel_name_ok(const char *s)
{
    for (const char *p = s;;) {
        size_t n = strcspn(p, "/");

        if (bad_component(p, n))
            return false;
        p += n;
        if (!*p)
            return true;
        p++;
    }
}

enum fsutil_walk fsutil_walk(int dirfd, const char *rel, const char *hidden,
                             int *fd_out, int *parent_out,
                             char leaf[FSUTIL_NAME_MAX])
{
    const char *p = rel;
    int dir = dirfd;

    if (parent_out && !*p) {
        close(dir);
        return FSUTIL_WALK_INVALID;
    }
    while (*p) {
        size_t n = strcspn(p, "/");
        char comp[FSUTIL_NAME_MAX];
        int next;

        if (bad_component(p, n) || n >= sizeof(comp)) {
            close(dir);
            return FSUTIL_WALK_INVALID;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        next = hidden && p == rel && strcmp(comp, hidden) == 0
                   ? -1
                   : openat(dir, comp,
                            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (next < 0) {
            close(dir);
            return FSUTIL_WALK_NOTFOUND;
        }
        if (parent_out && p[n] == '\0') {
            *parent_out = dir;
            memcpy(leaf, comp, n + 1);
        } else {
            close(dir);
        }
        dir = next;
        p += n;
        if (*p == '/') {
            p++;
            if (!*p) {
                close(dir);
                return FSUTIL_WALK_NOTFOUND;
            }
        }
    }
    *fd_out = dir;
    return FSUTIL_WALK_OK;
}
