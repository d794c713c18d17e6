/* cmocka_pre.h — what cmocka.h needs before it, and a fail_msg that links on Debian. */
#ifndef POT_CMOCKA_PRE_H
#define POT_CMOCKA_PRE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

/* cmocka 1.1.5 as Debian builds it: fail_msg's print_error does not link everywhere. */
#define pot_fail_msg(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); fail(); } while (0)

#endif
