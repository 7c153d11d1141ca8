/* Minimal assertion helpers for the C tests: fail loudly with file, line and values. */
#ifndef RB_CHECK_H
#define RB_CHECK_H
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                     \
    do {                                                                   \
        unsigned long long a_ = (unsigned long long)(a);                   \
        unsigned long long b_ = (unsigned long long)(b);                   \
        if (a_ != b_) {                                                    \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%llu != %llu)\n", __FILE__, \
                    __LINE__, #a, #b, a_, b_);                             \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

#endif
