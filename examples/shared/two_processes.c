/* Two processes, one breaker: the child's orders start failing and it trips the breaker; the
 * parent, which never saw a failure, is halted at its very next call. Build and run with
 * `make shared-example`.
 *
 * Both open the same region (a file under /dev/shm) with rb_shared_open and use the ordinary
 * rb_* calls on it, with times from rb_now_ns(), one clock for the whole host. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringbreaker.h"

static rb_breaker *open_orders(const char *path) {
    rb_config c = rb_config_default();
    c.minimum_calls = 5;
    c.failure_rate = 0.5;
    c.open_ns = 2000000000ull; /* 2 s */
    rb_breaker *b = NULL;
    rb_status st = rb_shared_open(path, &c, &b);
    if (st != RB_OK) {
        fprintf(stderr, "rb_shared_open: %s\n", rb_shared_last_error());
        exit(1);
    }
    return b;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/ringbreaker.example-%d", (int)getpid());
    rb_breaker *b = open_orders(path); /* created here; the child attaches */

    pid_t child = fork();
    if (child == 0) {
        rb_breaker *mine = open_orders(path);
        for (int i = 0; i < 1000; i++) {
            rb_permit p;
            rb_transition t;
            if (rb_try_acquire(mine, rb_now_ns(), &p, NULL) != RB_OK) break;
            rb_record(mine, &p, RB_FAILURE, 0, rb_now_ns(), &t); /* the exchange rejects us */
            if (t.occurred) {
                rb_shared_journal(mine, &t);
                printf("[child  %d] %d orders failed: tripped the breaker (generation %u)\n",
                       (int)getpid(), i + 1, t.generation);
                break;
            }
        }
        rb_shared_close(mine);
        fflush(stdout);
        _exit(0);
    }

    /* The parent keeps trading until the breaker stops it. */
    uint32_t seen = 1;
    for (int i = 0;; i++) {
        rb_permit p;
        if (rb_try_acquire(b, rb_now_ns(), &p, NULL) == RB_REJECTED) {
            rb_transition hist[4];
            size_t n = 0;
            uint32_t missed = 0;
            rb_shared_history(b, seen, hist, 4, &n, &missed, &seen);
            printf("[parent %d] halted: breaker is open", (int)getpid());
            for (size_t k = 0; k < n; k++) {
                printf(" (tripped by another process: generation %u, %s)", hist[k].generation,
                       hist[k].reason == RB_REASON_FAILURE_RATE ? "failure rate" : "other reason");
            }
            printf("\n");
            break;
        }
        rb_record(b, &p, RB_SUCCESS, 0, rb_now_ns(), NULL);
        if (i > 2000) {
            fprintf(stderr, "the parent was never halted\n");
            return 1;
        }
        sleep_ms(1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    rb_metrics m;
    rb_snapshot(b, rb_now_ns(), &m);
    printf("both processes see one breaker: %s, %llu calls of which %llu failed, %llu rejected\n",
           m.state == RB_STATE_OPEN ? "open" : "not open", (unsigned long long)m.calls,
           (unsigned long long)m.failures, (unsigned long long)m.rejected);
    rb_shared_close(b);
    rb_shared_unlink(path);
    return m.state == RB_STATE_OPEN ? 0 : 1;
}
