/* Shared breakers from C: create and attach, refusals with rb_shared_last_error(), the
 * journal, and four forked processes counting exactly on one region.
 *
 * Also a peer for the cross-language test (py/tests/test_shared_interop.py):
 *   test_shared peer PATH NOW OP...   OP: s (acquire + success), f (acquire + failure), trip,
 *                                     reset, snap (print the snapshot at NOW)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ringbreaker.h"
#include "check.h"

static rb_config interop_config(void) {
    rb_config c = rb_config_default();
    c.window_ns = 60000000000ull;
    c.buckets = 6;
    c.minimum_calls = 4;
    c.open_ns = 1000000000ull;
    c.half_open_permits = 2;
    /* rb_config_default() leaves max_open_ns and half_open_timeout_ns at 0 (no cap; one
     * window), so this is the breaker Rust's builder and Python build when they are left out. */
    return c;
}

static void print_snapshot(const rb_breaker *b, uint64_t now) {
    rb_metrics m;
    CHECK_EQ(rb_snapshot(b, now, &m), RB_OK);
    printf("snap %u %u %llu %llu %llu %llu %llu %llu %llu %llu\n", (unsigned)m.state, m.generation,
           (unsigned long long)m.calls, (unsigned long long)m.successes,
           (unsigned long long)m.failures, (unsigned long long)m.slow_calls,
           (unsigned long long)m.rejected, (unsigned long long)m.stale,
           (unsigned long long)m.open_ns, (unsigned long long)m.time_until_half_open_ns);
}

/* Journal a transition an rb_* call returned, so other processes can read it. */
static void journal(rb_breaker *b, const rb_transition *t) {
    CHECK_EQ(rb_shared_journal(b, t), RB_OK);
}

static int peer(int argc, char **argv) {
    rb_config c = interop_config();
    rb_breaker *b = NULL;
    rb_status st = rb_shared_open(argv[2], &c, &b);
    if (st != RB_OK) {
        fprintf(stderr, "rb_shared_open: %s: %s\n", rb_status_str(st), rb_shared_last_error());
        return 2;
    }
    uint64_t now = strtoull(argv[3], NULL, 10);
    for (int i = 4; i < argc; i++) {
        const char *op = argv[i];
        rb_transition t;
        if (!strcmp(op, "s") || !strcmp(op, "f")) {
            rb_permit p;
            CHECK_EQ(rb_try_acquire(b, now, &p, &t), RB_OK);
            journal(b, &t);
            CHECK_EQ(rb_record(b, &p, op[0] == 's' ? RB_SUCCESS : RB_FAILURE, 0, now, &t), RB_OK);
            journal(b, &t);
        } else if (!strcmp(op, "trip")) {
            CHECK_EQ(rb_trip(b, now, &t), RB_OK);
            journal(b, &t);
        } else if (!strcmp(op, "reset")) {
            CHECK_EQ(rb_reset(b, now, &t), RB_OK);
            journal(b, &t);
        } else if (!strcmp(op, "snap")) {
            print_snapshot(b, now);
        } else {
            fprintf(stderr, "unknown op %s\n", op);
            return 2;
        }
    }
    CHECK_EQ(rb_shared_close(b), RB_OK);
    return 0;
}

#define KIDS 4
#define CALLS 20000ull

static void hammer(const char *path, const rb_config *c) {
    rb_breaker *b = NULL;
    CHECK_EQ(rb_shared_open(path, c, &b), RB_OK);
    for (uint64_t i = 0; i < CALLS; i++) {
        rb_permit p;
        uint64_t now = rb_now_ns();
        CHECK_EQ(rb_try_acquire(b, now, &p, NULL), RB_OK);
        CHECK_EQ(rb_record(b, &p, (i % 4) == 0 ? RB_FAILURE : RB_SUCCESS, 0, now, NULL), RB_OK);
    }
    CHECK_EQ(rb_shared_close(b), RB_OK);
}

/* `test_shared hammer PATH N`: N acquire + success on the region of the default config with
 * rate trips off (the Rust bench's config), for the mixed-language hammer test. */
static int hammer_peer(const char *path, uint64_t n) {
    rb_config c = rb_config_default();
    c.minimum_calls = 0xFFFFFFFFu;
    rb_breaker *b = NULL;
    rb_status st = rb_shared_open(path, &c, &b);
    if (st != RB_OK) {
        fprintf(stderr, "rb_shared_open: %s\n", rb_shared_last_error());
        return 2;
    }
    for (uint64_t i = 0; i < n; i++) {
        rb_permit p;
        uint64_t now = rb_now_ns();
        CHECK_EQ(rb_try_acquire(b, now, &p, NULL), RB_OK);
        CHECK_EQ(rb_record(b, &p, RB_SUCCESS, 0, now, NULL), RB_OK);
    }
    printf("%llu\n", (unsigned long long)n);
    CHECK_EQ(rb_shared_close(b), RB_OK);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "peer")) return peer(argc, argv);
    if (argc == 4 && !strcmp(argv[1], "hammer")) return hammer_peer(argv[2], strtoull(argv[3], NULL, 10));

    char path[128];
    snprintf(path, sizeof path, "/tmp/rb-c-shm-%d", (int)getpid());
    rb_shared_unlink(path); /* a leftover from an earlier run */

    rb_config c = rb_config_default();
    c.window_ns = 3600000000000ull;
    c.buckets = 6;
    c.minimum_calls = 1000000000u; /* never trips on rate: every call is counted */

    /* Create, then attach a second mapping in the same process: one region, one id. */
    rb_breaker *a = NULL, *b = NULL;
    CHECK_EQ(rb_shared_open(path, &c, &a), RB_OK);
    CHECK_EQ(rb_shared_open(path, &c, &b), RB_OK);
    CHECK(a != b);
    CHECK(rb_shared_id(a) != 0);
    CHECK_EQ(rb_shared_id(a), rb_shared_id(b));
    CHECK((rb_shared_id(a) & 0x80000000u) != 0);

    /* A permit from one mapping records through the other; its id is the region's. */
    rb_permit p;
    CHECK_EQ(rb_try_acquire(a, 10, &p, NULL), RB_OK);
    CHECK_EQ(p.breaker_id, rb_shared_id(a));
    CHECK_EQ(rb_record(b, &p, RB_FAILURE, 0, 11, NULL), RB_OK);
    rb_metrics m;
    CHECK_EQ(rb_snapshot(a, 12, &m), RB_OK);
    CHECK_EQ(m.failures, 1);

    /* Transitions journaled through one mapping are read through the other. */
    rb_transition t;
    CHECK_EQ(rb_trip(a, 20, &t), RB_OK);
    CHECK(t.occurred);
    CHECK_EQ(rb_shared_journal(a, &t), RB_OK);
    rb_transition hist[8];
    size_t n = 0;
    uint32_t missed = 99, gen = 0;
    CHECK_EQ(rb_shared_history(b, 1, hist, 8, &n, &missed, &gen), RB_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(missed, 0);
    CHECK_EQ(gen, 2);
    CHECK_EQ(hist[0].to, RB_STATE_OPEN);
    CHECK_EQ(hist[0].reason, RB_REASON_TRIP);
    /* Not journaled: counted as missed, never silently skipped. */
    CHECK_EQ(rb_reset(a, 30, &t), RB_OK);
    CHECK_EQ(rb_shared_history(b, 2, hist, 8, &n, &missed, &gen), RB_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(missed, 1);
    CHECK_EQ(gen, 3);

    /* Another configuration is refused, naming the fields. */
    rb_config other = c;
    other.failure_rate = 0.25;
    rb_breaker *x = NULL;
    rb_status st = rb_shared_open(path, &other, &x);
    printf("config mismatch: %s: %s\n", rb_status_str(st), rb_shared_last_error());
    CHECK_EQ(st, RB_SHARED_CONFIG_MISMATCH);
    CHECK(x == NULL);
    CHECK(strstr(rb_shared_last_error(), "failure_rate: 0.5 in the region vs 0.25 requested") != NULL);

    /* Closing something that is not a shared breaker does nothing and says so. */
    rb_breaker *heap = NULL;
    CHECK_EQ(rb_breaker_new(&c, &heap), RB_OK);
    CHECK_EQ(rb_shared_close(heap), RB_NOT_SHARED);
    rb_breaker_free(heap);
    CHECK_EQ(rb_shared_close(NULL), RB_NULL_ARGUMENT);
    CHECK_EQ(rb_shared_open(NULL, &c, &x), RB_NULL_ARGUMENT);

    /* Four processes hammer the region: every outcome counted exactly once. */
    CHECK_EQ(rb_reset(a, rb_now_ns(), NULL), RB_OK);
    pid_t kids[KIDS];
    fflush(stdout); /* or the children would print the parent's buffered lines again */
    for (int i = 0; i < KIDS; i++) {
        kids[i] = fork();
        CHECK(kids[i] >= 0);
        if (kids[i] == 0) {
            /* A forked child inherits the parent's mappings; it may use or close them. */
            CHECK_EQ(rb_shared_close(a), RB_OK);
            CHECK_EQ(rb_shared_close(b), RB_OK);
            hammer(path, &c);
            _exit(0);
        }
    }
    for (int i = 0; i < KIDS; i++) {
        int status = 0;
        CHECK_EQ(waitpid(kids[i], &status, 0), kids[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK_EQ(rb_snapshot(a, rb_now_ns(), &m), RB_OK);
    CHECK_EQ(m.calls, KIDS * CALLS);
    CHECK_EQ(m.failures, KIDS * CALLS / 4);
    printf("%d processes: %llu calls, %llu failures\n", KIDS, (unsigned long long)m.calls,
           (unsigned long long)m.failures);

    CHECK_EQ(rb_shared_close(a), RB_OK);
    CHECK_EQ(rb_shared_close(b), RB_OK);
    CHECK_EQ(rb_shared_close(a), RB_NOT_SHARED); /* closed already */

    /* A truncated file is refused, never mapped past its end. */
    CHECK_EQ(truncate(path, 1000), 0);
    st = rb_shared_open(path, &c, &x);
    printf("truncated: %s: %s\n", rb_status_str(st), rb_shared_last_error());
    CHECK_EQ(st, RB_SHARED_TRUNCATED);

    CHECK_EQ(rb_shared_unlink(path), RB_OK);
    CHECK_EQ(rb_shared_unlink(path), RB_SHARED_IO);
    CHECK(access(path, F_OK) != 0);
    printf("test_shared: ok\n");
    return 0;
}
