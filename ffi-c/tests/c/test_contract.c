/* The contract's edges through the C ABI: single-use permits (RB_ALREADY_RECORDED),
 * rb_retry_after in every rejecting state, half-open leases timed from each permit's issue,
 * uncapped backoff, and a window that stays exact after 2^17 transitions and across the
 * generation's wrap points. The seeded sequences of the reference model run through the same
 * functions in ffi-c/tests/spec.rs. */
#include <string.h>

#include "ringbreaker.h"
#include "check.h"

static rb_breaker *make(uint32_t consecutive, uint64_t open_ns, uint64_t lease_ns, uint32_t trials) {
    rb_config c = rb_config_default();
    c.minimum_calls = 0xFFFFFFFFu;
    c.consecutive_failures = consecutive;
    c.open_ns = open_ns;
    c.half_open_timeout_ns = lease_ns;
    c.half_open_permits = trials;
    rb_breaker *b = NULL;
    CHECK_EQ(rb_breaker_new(&c, &b), RB_OK);
    return b;
}

static void fail(rb_breaker *b, uint64_t now) {
    rb_permit p;
    CHECK_EQ(rb_try_acquire(b, now, &p, NULL), RB_OK);
    CHECK_EQ(rb_record(b, &p, RB_FAILURE, 0, now, NULL), RB_OK);
}

static void single_use(void) {
    rb_breaker *b = make(1, 1, 0, 2);
    rb_permit p, copy, other;
    rb_metrics m;
    /* a Closed-state permit: the second rb_record of the same rb_permit is refused */
    CHECK_EQ(rb_try_acquire(b, 0, &p, NULL), RB_OK);
    CHECK_EQ(rb_record(b, &p, RB_SUCCESS, 0, 0, NULL), RB_OK);
    CHECK_EQ(p.kind, RB_PERMIT_CONSUMED);
    CHECK_EQ(rb_record(b, &p, RB_SUCCESS, 0, 0, NULL), RB_ALREADY_RECORDED);
    CHECK_EQ(rb_snapshot(b, 0, &m), RB_OK);
    CHECK_EQ(m.successes, 1);
    /* a half-open trial permit: even a copy recorded again is refused by the breaker */
    fail(b, 0);
    CHECK_EQ(rb_try_acquire(b, 1, &p, NULL), RB_OK);
    CHECK_EQ(p.kind, RB_PERMIT_TRIAL);
    CHECK_EQ(rb_try_acquire(b, 1, &other, NULL), RB_OK);
    CHECK_EQ(other.slot, 1);
    copy = p;
    CHECK_EQ(rb_record(b, &p, RB_SUCCESS, 0, 2, NULL), RB_OK);
    CHECK_EQ(rb_record(b, &copy, RB_SUCCESS, 0, 2, NULL), RB_ALREADY_RECORDED);
    CHECK_EQ(copy.kind, RB_PERMIT_CONSUMED);
    CHECK_EQ(rb_snapshot(b, 2, &m), RB_OK);
    CHECK_EQ(m.state, RB_STATE_HALF_OPEN); /* one success of two: not closed by the copy */
    CHECK_EQ(m.stale, 0);
    CHECK_EQ(rb_record(b, &other, RB_SUCCESS, 0, 3, NULL), RB_OK);
    CHECK_EQ(rb_snapshot(b, 3, &m), RB_OK);
    CHECK_EQ(m.state, RB_STATE_CLOSED);
    CHECK_EQ(rb_record(b, NULL, RB_SUCCESS, 0, 3, NULL), RB_NULL_ARGUMENT);
    rb_breaker_free(b);
}

static void retry_after_and_leases(void) {
    rb_breaker *b = make(1, 100, 40, 1);
    rb_permit p;
    uint64_t ns = 12345;
    rb_transition t;
    CHECK_EQ(rb_retry_after(b, 0, &ns), RB_OK);
    CHECK_EQ(ns, 0);
    fail(b, 0);
    CHECK_EQ(rb_try_acquire(b, 30, &p, NULL), RB_REJECTED);
    CHECK_EQ(rb_retry_after(b, 30, &ns), RB_OK);
    CHECK_EQ(ns, 70);
    /* half-open: the one trial is out; the lease runs from its issue, not from half-open */
    CHECK_EQ(rb_try_acquire(b, 100, &p, &t), RB_OK);
    CHECK(t.occurred && t.to == RB_STATE_HALF_OPEN);
    CHECK_EQ(rb_record(b, &p, RB_IGNORED, 0, 120, NULL), RB_OK); /* handed back */
    CHECK_EQ(rb_try_acquire(b, 500, &p, NULL), RB_OK);           /* 400 ns after half-open */
    CHECK_EQ(rb_try_acquire(b, 510, &p, &t), RB_REJECTED);
    CHECK(!t.occurred); /* issued 10 ns ago: not lapsed */
    CHECK_EQ(rb_retry_after(b, 510, &ns), RB_OK);
    CHECK_EQ(ns, 30);
    CHECK_EQ(rb_try_acquire(b, 540, &p, &t), RB_REJECTED);
    CHECK(t.occurred && t.reason == RB_REASON_HALF_OPEN_TIMEOUT);
    CHECK_EQ(rb_force_open(b, 550, NULL), RB_OK);
    ns = 777;
    CHECK_EQ(rb_retry_after(b, 560, &ns), RB_NO_RETRY_AFTER);
    CHECK_EQ(ns, 777); /* out-param untouched */
    CHECK_EQ(rb_retry_after(NULL, 0, &ns), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_retry_after(b, 0, NULL), RB_NULL_ARGUMENT);
    rb_breaker_free(b);
}

static void uncapped_backoff(void) {
    rb_config c = rb_config_default();
    c.consecutive_failures = 1;
    c.open_ns = 1000;
    c.backoff_multiplier = 2.0;
    c.max_open_ns = 0; /* no cap */
    rb_breaker *b = NULL;
    rb_permit p;
    rb_metrics m;
    CHECK_EQ(rb_breaker_new(&c, &b), RB_OK);
    fail(b, 0);
    uint64_t now = 0;
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(rb_snapshot(b, now, &m), RB_OK);
        now += m.open_ns;
        CHECK_EQ(rb_try_acquire(b, now, &p, NULL), RB_OK);
        CHECK_EQ(rb_record(b, &p, RB_FAILURE, 0, now, NULL), RB_OK);
    }
    CHECK_EQ(rb_snapshot(b, now, &m), RB_OK);
    CHECK_EQ(m.open_ns, 8000);
    rb_breaker_free(b);
}

static void exact_window(void) {
    rb_breaker *b = make(0, 1, 0, 1);
    rb_metrics m;
    /* 2^17 transitions in one bucket period must not bring a failure back */
    fail(b, 5);
    for (int i = 0; i < (1 << 16); i++) {
        CHECK_EQ(rb_disable(b, 5, NULL), RB_OK);
        CHECK_EQ(rb_reset(b, 5, NULL), RB_OK);
    }
    CHECK_EQ(rb_snapshot(b, 5, &m), RB_OK);
    CHECK_EQ(m.calls, 0);
    /* next to the stamp's wrap point, with the test hook */
    rb_transition t;
    CHECK_EQ(rb_debug_reset_to_generation(b, 0xFFFF, 6, &t), RB_OK);
    CHECK(t.occurred && t.generation == 0xFFFF);
    fail(b, 6);
    CHECK_EQ(rb_debug_reset_to_generation(b, 0x1FFFD, 6, NULL), RB_OK);
    CHECK_EQ(rb_disable(b, 6, NULL), RB_OK);
    CHECK_EQ(rb_reset(b, 6, NULL), RB_OK); /* 0x1FFFF: 0xFFFF's stamp */
    CHECK_EQ(rb_snapshot(b, 6, &m), RB_OK);
    CHECK_EQ(m.generation, 0x1FFFF);
    CHECK_EQ(m.calls, 0);
    rb_breaker_free(b);
}

int main(void) {
    single_use();
    retry_after_and_leases();
    uncapped_backoff();
    exact_window();
    CHECK(strcmp(rb_status_str(RB_ALREADY_RECORDED), "unknown status") != 0);
    printf("test_contract: ok\n");
    return 0;
}
