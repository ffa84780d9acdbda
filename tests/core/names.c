/* Marker names that JSON must escape. */
#include <traceagent.h>
#include <string.h>

int main(void)
{
    static const char *names[] = {
        "quote\" backslash\\ slash/",
        "ctrl \x01\x02\x1f tab\t nl\n cr\r",
        "bad utf8 \xff\xfe end",
        "truncated \xe2\x82",
        "ok utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
        "surrogate \xed\xa0\x80 overlong \xc0\xaf",
    };
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        traceagent_push(names[i]);
        traceagent_pop();
    }
    char big[10000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    traceagent_push(big);
    traceagent_pop();
    return 0;
}
