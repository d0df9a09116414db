#ifndef SHOAL_FUTEX_H
#define SHOAL_FUTEX_H

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * A word another thread waits on, without a mutex: the waker stores a new
 * value and wakes; the waiter loops until it sees a value it did not wait
 * on (spurious wakes and wakes for an earlier value just loop). Used where
 * a mutex would make every woken thread queue for it again (group commit,
 * one word per waiting request).
 *
 * A word may go out of scope as soon as its waiter has seen the store:
 * the wake that follows then only names an address, and at worst wakes
 * some other waiter spuriously. So store first, wake after, and never
 * read the word's owner after the store.
 */
static inline void futex_wait_while(atomic_int *word, int v)
{
    while (atomic_load_explicit(word, memory_order_acquire) == v)
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static inline void futex_wake_one(atomic_int *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static inline void futex_wake_all(atomic_int *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/*
 * An event count, for a thread that sleeps until there is work: sample
 * the count, look for work (under whatever lock guards it), and if there
 * is none sleep unless the count moved since the sample. Whoever adds work
 * adds it first, then signals; no wake-up is lost between the look and
 * the sleep. Used instead of a condition variable where a lost wake-up
 * would stall a service for good: glibc 2.36 (Debian 12) has a known bug
 * in which pthread_cond_signal can leave a waiter asleep for ever
 * (sourceware bug 25847). Where shoald still uses condition variables it
 * wakes with pthread_cond_broadcast, never pthread_cond_signal (every wait
 * is in a loop on its predicate, so the two mean the same there).
 */
static inline int futex_event_sample(atomic_int *ev)
{
    return atomic_load_explicit(ev, memory_order_acquire);
}

static inline void futex_event_wait(atomic_int *ev, int sample)
{
    if (atomic_load_explicit(ev, memory_order_acquire) == sample)
        syscall(SYS_futex, ev, FUTEX_WAIT_PRIVATE, sample, NULL, NULL, 0);
}

static inline void futex_event_signal(atomic_int *ev, int nwake)
{
    atomic_fetch_add_explicit(ev, 1, memory_order_release);
    syscall(SYS_futex, ev, FUTEX_WAKE_PRIVATE, nwake, NULL, NULL, 0);
}

#endif
