/* Every rb_* function, every status, the full cycle at explicit times, static and stack
 * placement, and every bad input. */
#include <stdalign.h>
#include <string.h>

#include "ringbreaker.h"
#include "check.h"

#define S 1000000000ull

static rb_config small_config(void) {
    rb_config c = rb_config_default();
    c.window_ns = 10 * S;
    c.buckets = 10;
    c.minimum_calls = 4;
    c.failure_rate = 0.5;
    c.open_ns = 5 * S;
    c.max_open_ns = 20 * S;
    c.backoff_multiplier = 2.0;
    return c;
}

/* The full trip / reject / half-open / close cycle with explicit time. */
static void cycle(rb_breaker *b) {
    rb_permit p;
    rb_transition t;
    rb_metrics m;
    rb_breaker_state st;
    for (uint64_t i = 0; i < 4; i++) {
        CHECK_EQ(rb_try_acquire(b, i, &p, &t), RB_OK);
        CHECK(!t.occurred);
        CHECK_EQ(p.kind, RB_PERMIT_NORMAL);
        CHECK_EQ(rb_record(b, &p, i % 2 ? RB_FAILURE : RB_SUCCESS, 10, i, &t), RB_OK);
    }
    /* 2 of 4 failed: the last record tripped it */
    CHECK(t.occurred);
    CHECK_EQ(t.from, RB_STATE_CLOSED);
    CHECK_EQ(t.to, RB_STATE_OPEN);
    CHECK_EQ(t.reason, RB_REASON_FAILURE_RATE);
    CHECK_EQ(t.at_ns, 3);

    rb_permit untouched = {42, 42, 42, 42};
    p = untouched;
    CHECK_EQ(rb_try_acquire(b, S, &p, &t), RB_REJECTED);
    CHECK(memcmp(&p, &untouched, sizeof p) == 0); /* out-param not written on rejection */
    CHECK(!t.occurred);
    CHECK_EQ(rb_snapshot(b, S, &m), RB_OK);
    CHECK_EQ(m.state, RB_STATE_OPEN);
    CHECK_EQ(m.calls, 4);
    CHECK_EQ(m.failures, 2);
    CHECK(m.failure_rate == 0.5);
    CHECK_EQ(m.rejected, 1);
    CHECK_EQ(m.time_until_half_open_ns, 5 * S + 3 - S);

    CHECK_EQ(rb_state(b, 5 * S + 3, &st), RB_OK);
    CHECK_EQ(st, RB_STATE_HALF_OPEN);
    CHECK_EQ(rb_try_acquire(b, 5 * S + 3, &p, &t), RB_OK);
    CHECK(t.occurred);
    CHECK_EQ(t.to, RB_STATE_HALF_OPEN);
    CHECK_EQ(t.reason, RB_REASON_OPEN_ELAPSED);
    CHECK_EQ(p.kind, RB_PERMIT_TRIAL);
    /* a failed trial re-opens it with the open duration doubled */
    CHECK_EQ(rb_record(b, &p, RB_FAILURE, 10, 5 * S + 4, &t), RB_OK);
    CHECK(t.occurred);
    CHECK_EQ(t.reason, RB_REASON_TRIAL_FAILED);
    CHECK_EQ(rb_snapshot(b, 5 * S + 4, &m), RB_OK);
    CHECK_EQ(m.open_ns, 10 * S);
    CHECK_EQ(rb_try_acquire(b, 15 * S + 3, &p, &t), RB_REJECTED);
    CHECK_EQ(rb_try_acquire(b, 15 * S + 4, &p, &t), RB_OK);
    CHECK_EQ(rb_record(b, &p, RB_SUCCESS, 10, 15 * S + 5, &t), RB_OK);
    CHECK(t.occurred);
    CHECK_EQ(t.from, RB_STATE_HALF_OPEN);
    CHECK_EQ(t.to, RB_STATE_CLOSED);
    CHECK_EQ(t.reason, RB_REASON_TRIALS_SUCCEEDED);
    CHECK_EQ(rb_snapshot(b, 15 * S + 5, &m), RB_OK);
    CHECK_EQ(m.state, RB_STATE_CLOSED);
    CHECK_EQ(m.calls, 0); /* fresh window */
    CHECK_EQ(m.open_ns, 5 * S);
}

static void manual_ops(rb_breaker *b) {
    rb_transition t;
    rb_permit p;
    rb_metrics m;
    CHECK_EQ(rb_force_open(b, 1, &t), RB_OK);
    CHECK(t.occurred && t.to == RB_STATE_FORCED_OPEN && t.reason == RB_REASON_FORCE_OPEN);
    CHECK_EQ(rb_force_open(b, 1, &t), RB_OK);
    CHECK(!t.occurred);
    CHECK_EQ(rb_try_acquire(b, 100 * S, &p, NULL), RB_REJECTED);
    CHECK_EQ(rb_trip(b, 2, &t), RB_OK);
    CHECK(!t.occurred);
    CHECK_EQ(rb_disable(b, 3, &t), RB_OK);
    CHECK(t.occurred && t.to == RB_STATE_DISABLED && t.reason == RB_REASON_DISABLE);
    CHECK_EQ(rb_try_acquire(b, 4, &p, NULL), RB_OK);
    CHECK_EQ(p.kind, RB_PERMIT_PASSTHROUGH);
    CHECK_EQ(rb_record(b, &p, RB_FAILURE, 0, 4, NULL), RB_OK);
    CHECK_EQ(rb_metrics_only(b, 5, &t), RB_OK);
    CHECK(t.occurred && t.to == RB_STATE_METRICS_ONLY && t.reason == RB_REASON_METRICS_ONLY);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(rb_try_acquire(b, 6, &p, NULL), RB_OK);
        CHECK_EQ(rb_record(b, &p, RB_FAILURE, 0, 6, &t), RB_OK);
        CHECK(!t.occurred);
    }
    CHECK_EQ(rb_snapshot(b, 6, &m), RB_OK);
    CHECK_EQ(m.failures, 10);
    CHECK_EQ(rb_trip(b, 7, &t), RB_OK);
    CHECK(t.occurred && t.to == RB_STATE_OPEN && t.reason == RB_REASON_TRIP);
    CHECK_EQ(rb_reset(b, 8, &t), RB_OK);
    CHECK(t.occurred && t.to == RB_STATE_CLOSED && t.reason == RB_REASON_RESET);
    CHECK_EQ(rb_reset(b, 9, NULL), RB_OK); /* NULL transition out-param is allowed */
}

static void permits(rb_breaker *a, rb_breaker *b) {
    rb_permit p;
    rb_metrics m;
    rb_transition t;
    /* a permit from another breaker is detected, not counted */
    CHECK_EQ(rb_try_acquire(a, 0, &p, NULL), RB_OK);
    CHECK_EQ(rb_record(b, &p, RB_FAILURE, 0, 0, &t), RB_FOREIGN_PERMIT);
    CHECK_EQ(rb_snapshot(b, 0, &m), RB_OK);
    CHECK_EQ(m.calls, 0);
    CHECK_EQ(m.stale, 0);
    /* enum arguments out of range */
    CHECK_EQ(rb_record(a, &p, 3, 0, 0, NULL), RB_INVALID_ARGUMENT);
    rb_permit bad = p;
    bad.kind = 7;
    CHECK_EQ(rb_record(a, &bad, RB_SUCCESS, 0, 0, NULL), RB_INVALID_ARGUMENT);
    bad.kind = 0x100;
    CHECK_EQ(rb_record(a, &bad, RB_SUCCESS, 0, 0, NULL), RB_INVALID_ARGUMENT);
    /* a stale permit (older generation) is counted as stale and changes nothing */
    CHECK_EQ(rb_reset(a, 1, NULL), RB_OK);
    CHECK_EQ(rb_record(a, &p, RB_FAILURE, 0, 1, &t), RB_OK);
    CHECK(!t.occurred);
    CHECK_EQ(rb_snapshot(a, 1, &m), RB_OK);
    CHECK_EQ(m.stale, 1);
    CHECK_EQ(m.calls, 0);
}

static void null_arguments(rb_breaker *b) {
    rb_config c = small_config();
    rb_breaker *out = NULL;
    rb_permit p = {0, 0, 0, 0};
    rb_metrics m;
    rb_breaker_state st;
    char buf[16];
    CHECK_EQ(rb_breaker_new(NULL, &out), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_breaker_new(&c, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_breaker_init_in(NULL, 1024, &c, &out), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_breaker_init_in(buf, sizeof buf, NULL, &out), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_breaker_init_in(buf, sizeof buf, &c, NULL), RB_NULL_ARGUMENT);
    CHECK(out == NULL); /* never written on failure */
    CHECK_EQ(rb_try_acquire(NULL, 0, &p, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_try_acquire(b, 0, NULL, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_record(NULL, &p, RB_SUCCESS, 0, 0, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_snapshot(NULL, 0, &m), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_snapshot(b, 0, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_state(NULL, 0, &st), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_state(b, 0, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_trip(NULL, 0, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_force_open(NULL, 0, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_disable(NULL, 0, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_metrics_only(NULL, 0, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_reset(NULL, 0, NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_breaker_size(NULL), 0);
    rb_breaker_free(NULL); /* allowed, does nothing */
}

static void invalid_configs(void) {
    struct {
        rb_config c;
        const char *field;
    } cases[16];
    int n = 0;
    rb_config c;
#define CASE(stmt, name)                 \
    c = small_config();                  \
    stmt;                                \
    cases[n].c = c;                      \
    cases[n].field = name;               \
    n++;
    CASE(c.window_ns = 0, "window_ns");
    CASE(c.buckets = 0, "buckets");
    CASE(c.window_ns = 10, "window_ns"); /* not divisible into 10 buckets... */
    cases[n - 1].c.buckets = 3;
    CASE(c.failure_rate = 0.0 / 0.0, "failure_rate"); /* NaN */
    CASE(c.failure_rate = 1.5, "failure_rate");
    CASE(c.slow_call_rate = -0.1, "slow_call_rate");
    CASE(c.half_open_permits = 0, "half_open_permits");
    CASE(c.half_open_permits = 5000, "half_open_permits");
    CASE(c.max_open_ns = 1, "max_open_ns");
    CASE(c.backoff_multiplier = 0.5, "backoff_multiplier");
    CASE(c.buckets = 100000, "buckets");
    CASE(c.stripes = 3, "stripes");
    CASE(c.stripes = RB_MAX_STRIPES * 2, "stripes");
    CASE(c.stripes = RB_MAX_STRIPES; c.buckets = RB_MAX_BUCKETS; c.window_ns = RB_MAX_BUCKETS, "stripes");
#undef CASE
    for (int i = 0; i < n; i++) {
        rb_breaker *out = (rb_breaker *)0x1;
        CHECK_EQ(rb_breaker_new(&cases[i].c, &out), RB_INVALID_CONFIG);
        CHECK(out == (rb_breaker *)0x1);
        CHECK(rb_last_error_field() != NULL);
        if (strcmp(rb_last_error_field(), cases[i].field) != 0) {
            fprintf(stderr, "case %d: field %s, expected %s\n", i, rb_last_error_field(), cases[i].field);
            exit(1);
        }
        CHECK_EQ(rb_breaker_size(&cases[i].c), 0);
        CHECK(strcmp(rb_last_error_field(), cases[i].field) == 0);
    }
    rb_config ok = small_config();
    CHECK(rb_breaker_size(&ok) > 0);
    CHECK(rb_last_error_field() == NULL);
    /* stripes 0 means 1; each further stripe costs one ring of buckets × 128 bytes. */
    rb_config one = small_config(), zero = small_config(), four = small_config();
    one.stripes = 1;
    zero.stripes = 0;
    four.stripes = 4;
    CHECK_EQ(rb_breaker_size(&zero), rb_breaker_size(&one));
    CHECK_EQ(rb_breaker_size(&four) - rb_breaker_size(&one), 3ull * one.buckets * 128);
    CHECK_EQ(rb_config_default().stripes, 1);
}

/* A breaker in a static buffer, as firmware would declare it. */
static alignas(128) unsigned char static_mem[8192];

static void placement(void) {
    rb_config c = small_config();
    size_t size = rb_breaker_size(&c);
    size_t align = rb_breaker_align();
    CHECK(size > 0 && size <= sizeof static_mem);
    CHECK(align > 0 && (align & (align - 1)) == 0);
    rb_breaker *b = NULL;
    CHECK_EQ(rb_breaker_init_in(static_mem, size - 1, &c, &b), RB_BUFFER_TOO_SMALL);
    CHECK_EQ(rb_breaker_init_in(static_mem + 1, size, &c, &b), RB_MISALIGNED);
    CHECK(b == NULL);
    CHECK_EQ(rb_breaker_init_in(static_mem, sizeof static_mem, &c, &b), RB_OK);
    CHECK(b != NULL);
    cycle(b);

    /* and on the stack */
    alignas(128) unsigned char stack_mem[8192];
    rb_breaker *s = NULL;
    CHECK_EQ(rb_breaker_init_in(stack_mem, sizeof stack_mem, &c, &s), RB_OK);
    cycle(s);
    permits(b, s);
}

static void strings(void) {
    for (uint32_t st = RB_OK; st <= RB_PANIC; st++) {
        const char *text = rb_status_str(st);
        CHECK(text != NULL && strlen(text) > 0);
        CHECK(strcmp(text, "unknown status") != 0);
    }
    CHECK(strcmp(rb_status_str(RB_OK), "ok") == 0);
    CHECK(strcmp(rb_status_str(999), "unknown status") == 0);
    CHECK(strcmp(rb_version(), "0.1.0") == 0);
    uint64_t t0 = rb_now_ns();
    uint64_t t1 = rb_now_ns();
    CHECK(t0 > 0 && t1 >= t0);
}

int main(void) {
    rb_config c = small_config();
    rb_breaker *a = NULL, *b = NULL;
    CHECK_EQ(rb_breaker_new(&c, &a), RB_OK);
    CHECK_EQ(rb_breaker_new(&c, &b), RB_OK);
    CHECK(a != NULL && b != NULL && a != b);
    cycle(a);
    manual_ops(a);
    permits(a, b);
    null_arguments(a);
    invalid_configs();
    placement();
    strings();
    rb_config d = rb_config_default();
    CHECK_EQ(d.window_ns, 10 * S);
    CHECK_EQ(d.buckets, 10);
    CHECK_EQ(d.minimum_calls, 20);
    CHECK_EQ(d.half_open_permits, 1);
    rb_breaker_free(a);
    rb_breaker_free(b);
    printf("test_api: ok\n");
    return 0;
}
