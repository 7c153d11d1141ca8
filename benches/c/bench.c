/* rb_try_acquire + rb_record from C: the same loop as the Rust bench
 * `ringbreaker/acquire+record/caller_time/<variant>`, compiled by a C compiler. Caller-supplied time
 * advances 1 ns a call (still: never leaves a 1 s bucket), 1 us a call (a bucket boundary every
 * 10^6 calls) and 1 s a call (every call in a new bucket: the worst case).
 * Prints `c.acquire_record_ns.<variant> median min max` for benches/report.py. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ringbreaker.h"

#define N 20000000ULL
#define REPEATS 9

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(const char *label, uint64_t step) {
    rb_config cfg = rb_config_default();
    rb_breaker *b = NULL;
    if (rb_breaker_new(&cfg, &b) != RB_OK) {
        fprintf(stderr, "rb_breaker_new failed\n");
        return 1;
    }
    double samples[REPEATS];
    uint64_t now = 1;
    for (int r = 0; r < REPEATS; r++) {
        double t0 = now_s();
        for (uint64_t i = 0; i < N; i++) {
            rb_permit p;
            now += step;
            if (rb_try_acquire(b, now, &p, NULL) != RB_OK ||
                rb_record(b, &p, RB_SUCCESS, 0, now, NULL) != RB_OK) {
                fprintf(stderr, "unexpected status\n");
                return 1;
            }
        }
        samples[r] = (now_s() - t0) * 1e9 / (double)N;
    }
    qsort(samples, REPEATS, sizeof samples[0], cmp);
    printf("c.acquire_record_ns.%s %.3f %.3f %.3f\n", label, samples[REPEATS / 2], samples[0],
           samples[REPEATS - 1]);
    rb_breaker_free(b);
    return 0;
}

int main(void) {
    return run("still", 1) || run("rotate_1us", 1000) || run("rotate_every_call", 1000000000ULL);
}
