/*
 * fsutil.c: file-system helpers shared by shoald and the node agent (see
 * fsutil.h). Everything works relative to directory descriptors, so a
 * path component swapped for a symlink while we work is never followed.
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
