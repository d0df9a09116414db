#ifndef SHOAL_FSUTIL_H
#define SHOAL_FSUTIL_H

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

#endif
