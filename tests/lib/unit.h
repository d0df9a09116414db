#ifndef SHOAL_TEST_UNIT_H
#define SHOAL_TEST_UNIT_H

/*
 * Unit tests use cmocka (Debian libcmocka-dev); tests/run sets
 * CMOCKA_MESSAGE_OUTPUT=TAP so every binary prints TAP. Include this first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#endif
