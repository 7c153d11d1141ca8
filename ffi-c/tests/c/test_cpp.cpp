// The header compiles as C++17 and drives one trip / reject / half-open / close cycle.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "ringbreaker.h"

#define REQUIRE(c) do { if (!(c)) { std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); std::exit(1); } } while (0)

int main() {
    rb_config c = rb_config_default();
    c.minimum_calls = 2;
    rb_breaker *raw = nullptr;
    REQUIRE(rb_breaker_new(&c, &raw) == RB_OK);
    std::unique_ptr<rb_breaker, decltype(&rb_breaker_free)> b(raw, &rb_breaker_free);
    rb_permit p{};
    rb_transition t{};
    for (uint64_t now = 1; now <= 2; ++now) {
        REQUIRE(rb_try_acquire(b.get(), now, &p, nullptr) == RB_OK);
        REQUIRE(rb_record(b.get(), &p, RB_FAILURE, 0, now, &t) == RB_OK);
    }
    REQUIRE(t.occurred && t.to == RB_STATE_OPEN);
    REQUIRE(rb_try_acquire(b.get(), 3, &p, nullptr) == RB_REJECTED);
    REQUIRE(rb_try_acquire(b.get(), 2 + c.open_ns, &p, &t) == RB_OK);
    REQUIRE(t.occurred && t.to == RB_STATE_HALF_OPEN);
    REQUIRE(rb_record(b.get(), &p, RB_SUCCESS, 0, 3 + c.open_ns, &t) == RB_OK);
    REQUIRE(t.occurred && t.to == RB_STATE_CLOSED);
    std::printf("test_cpp: ok\n");
    return 0;
}
