/*
 * notify.c: placeholder for the job-notification example (a later issue):
 * it exists so that `make` can build bin/notify-example. Prints "not yet"
 * and exits 0.
 */
#include <stdio.h>

int main(void)
{
    puts("not yet");
    return 0;
}
