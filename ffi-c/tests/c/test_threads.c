/* Four threads, 1,000,000 guarded calls in all, on one breaker: every recorded outcome is
 * accounted for exactly in the final metrics, with one window and with a window striped four
 * ways (each thread counting in its own stripe). The breaker is set to never trip
 * (MetricsOnly) so every call is permitted and counted; time stays inside one window. Then
 * four threads are rejected by an open striped breaker, and every rejection is counted. */
#include <pthread.h>

#include "ringbreaker.h"
#include "check.h"

#define THREADS 4
#define CALLS_PER_THREAD 250000ull

static rb_breaker *breaker;

struct result {
    uint64_t successes, failures, slow, errors;
};

static void *worker(void *arg) {
    struct result *r = arg;
    for (uint64_t i = 0; i < CALLS_PER_THREAD; i++) {
        rb_permit p;
        if (rb_try_acquire(breaker, 1000 + i, &p, NULL) != RB_OK) {
            r->errors++;
            continue;
        }
        int fail = (i % 7) == 0;
        uint64_t duration = (i % 5) == 0 ? 2000 : 10; /* slow_call_ns is 1000 */
        if (rb_record(breaker, &p, fail ? RB_FAILURE : RB_SUCCESS, duration, 1000 + i, NULL) != RB_OK) {
            r->errors++;
            continue;
        }
        if (fail) r->failures++; else r->successes++;
        if (duration >= 1000) r->slow++;
    }
    return NULL;
}

static void *rejecter(void *arg) {
    uint64_t *errors = arg;
    for (uint64_t i = 0; i < CALLS_PER_THREAD; i++) {
        rb_permit p;
        if (rb_try_acquire(breaker, 2000, &p, NULL) != RB_REJECTED) (*errors)++;
    }
    return NULL;
}

static void run(uint32_t stripes) {
    rb_config c = rb_config_default();
    c.window_ns = 10000000000ull; /* 10 s: all calls fall in the window */
    c.slow_call_ns = 1000;
    c.stripes = stripes;
    CHECK_EQ(rb_breaker_new(&c, &breaker), RB_OK);
    CHECK_EQ(rb_metrics_only(breaker, 0, NULL), RB_OK);
    pthread_t th[THREADS];
    struct result res[THREADS] = {{0, 0, 0, 0}};
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, worker, &res[i]) == 0);
    struct result total = {0, 0, 0, 0};
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        total.successes += res[i].successes;
        total.failures += res[i].failures;
        total.slow += res[i].slow;
        total.errors += res[i].errors;
    }
    rb_metrics m;
    CHECK_EQ(rb_snapshot(breaker, 1000 + CALLS_PER_THREAD, &m), RB_OK);
    CHECK_EQ(total.errors, 0);
    CHECK_EQ(m.calls, THREADS * CALLS_PER_THREAD);
    CHECK_EQ(m.successes, total.successes);
    CHECK_EQ(m.failures, total.failures);
    CHECK_EQ(m.slow_calls, total.slow);
    CHECK_EQ(m.stale, 0);

    CHECK_EQ(rb_force_open(breaker, 1500, NULL), RB_OK);
    uint64_t errors[THREADS] = {0};
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, rejecter, &errors[i]) == 0);
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK_EQ(errors[i], 0);
    }
    CHECK_EQ(rb_snapshot(breaker, 2000, &m), RB_OK);
    CHECK_EQ(m.rejected, THREADS * CALLS_PER_THREAD);
    rb_breaker_free(breaker);
    printf("test_threads: %u stripe(s), %d threads, %llu calls and as many rejections, all accounted for\n",
           stripes, THREADS, (unsigned long long)m.calls);
}

int main(void) {
    run(1);
    run(4);
    return 0;
}
