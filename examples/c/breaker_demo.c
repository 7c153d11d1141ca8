/* A small C program: guard calls to a flaky dependency with a ringbreaker breaker.
 * Build: cc -std=c11 breaker_demo.c $(pkg-config --cflags --libs ringbreaker) */
#include <stdio.h>

#include "ringbreaker.h"

static int flaky_call(int i) { return i % 3 == 0; } /* succeeds 1 call in 3 */

int main(void) {
    rb_config cfg = rb_config_default();
    cfg.minimum_calls = 6;
    cfg.open_ns = 1000000; /* 1 ms */
    rb_breaker *b = NULL;
    rb_status st = rb_breaker_new(&cfg, &b);
    if (st != RB_OK) {
        fprintf(stderr, "rb_breaker_new: %s (%s)\n", rb_status_str(st),
                rb_last_error_field() ? rb_last_error_field() : "-");
        return 1;
    }
    int rejected = 0;
    for (int i = 0; i < 20; i++) {
        uint64_t now = rb_now_ns();
        rb_permit p;
        rb_transition t;
        if (rb_try_acquire(b, now, &p, &t) != RB_OK) {
            rejected++;
            continue;
        }
        int ok = flaky_call(i);
        rb_record(b, &p, ok ? RB_SUCCESS : RB_FAILURE, rb_now_ns() - now, rb_now_ns(), &t);
        if (t.occurred) printf("call %2d: state %u -> %u (reason %u)\n", i, t.from, t.to, t.reason);
    }
    rb_metrics m;
    rb_snapshot(b, rb_now_ns(), &m);
    printf("calls %llu, failures %llu, rejected %d\n", (unsigned long long)m.calls,
           (unsigned long long)m.failures, rejected);
    rb_breaker_free(b);
    return 0;
}
