/* rb_try_acquire + rb_record from C: the same loop as the Rust bench
 * `ringbreaker/acquire+record/caller_time` (caller-supplied time advancing 1 ns a call).
 * Prints `c.acquire_record_ns median min max` for benches/report.py. */
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

int main(void) {
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
            now++;
            if (rb_try_acquire(b, now, &p, NULL) != RB_OK ||
                rb_record(b, &p, RB_SUCCESS, 0, now, NULL) != RB_OK) {
                fprintf(stderr, "unexpected status\n");
                return 1;
            }
        }
        samples[r] = (now_s() - t0) * 1e9 / (double)N;
    }
    qsort(samples, REPEATS, sizeof samples[0], cmp);
    printf("c.acquire_record_ns %.3f %.3f %.3f\n", samples[REPEATS / 2], samples[0], samples[REPEATS - 1]);
    rb_breaker_free(b);
    return 0;
}
